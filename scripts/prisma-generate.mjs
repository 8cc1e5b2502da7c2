// Generates the Prisma clients (src/storage/generated, src/storage/generated-pg) after every install.
// `prisma generate` insists on locating a schema engine binary even though generating does not run it; where the
// binary cannot be downloaded (offline CI) any existing file satisfies the check, so point it at node itself.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  // The Pothos generator is a bin of @pothos/plugin-prisma.
  PATH: `${path.resolve('node_modules/.bin')}${path.delimiter}${process.env.PATH}`,
};
// SQLite (prisma.config.ts), then PostgreSQL (src/storage/generated-pg, from prisma/postgres/schema.prisma).
for (const configArgs of [[], ['--config', 'prisma/postgres/prisma.config.ts']]) {
  const result = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate', ...configArgs], {
    stdio: 'inherit',
    env,
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
