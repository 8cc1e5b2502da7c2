// Generates the Prisma client (src/storage/generated) after every install.
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
const result = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate'], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
