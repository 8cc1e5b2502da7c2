// Prisma CLI configuration (`npx prisma generate`, `npx prisma migrate deploy`). The server itself opens the
// database through src/storage/db.ts and migrates it on start.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'file:./data/gramian.db' },
});
