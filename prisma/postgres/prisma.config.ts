// Prisma CLI configuration for PostgreSQL (`npx prisma migrate deploy|status --config prisma/postgres/prisma.config.ts`
// with DATABASE_URL=postgresql://…). The server itself migrates on start (src/storage/migrate-postgres.ts).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://127.0.0.1:5432/gramian' },
});
