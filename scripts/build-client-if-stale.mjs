// `npm start` runs this first (prestart): it builds the web page when client-example/web/dist has no index.html or
// is older than the page's sources (a fresh clone, or a `git pull` that changed the page), so `npm start` always
// serves the page of this checkout at /. `npm run build:client` rebuilds unconditionally, with the type check. Never
// stops the server from starting: without a page, GET / says how to build one.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const web = path.join(root, 'client-example/web');
const builtPage = path.join(web, 'dist/index.html');
const shared = path.join(root, 'client-example');
/** What the bundle is made of: the page, its config, and the modules it shares with the scripts (operations, …). */
const sources = [
  path.join(web, 'index.html'),
  path.join(web, 'vite.config.ts'),
  path.join(web, 'src'),
  path.join(web, 'public'),
  ...readdirSync(shared)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => path.join(shared, name)),
];

function newestChange(file) {
  if (!existsSync(file)) return 0;
  const stats = statSync(file);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((name) => newestChange(path.join(file, name))));
}

function reasonToBuild() {
  if (!existsSync(builtPage)) return 'not built yet';
  return Math.max(...sources.map(newestChange)) > statSync(builtPage).mtimeMs ? 'its sources changed' : null;
}

const reason = process.env.CLIENT_DIR ? null : reasonToBuild(); // CLIENT_DIR: the server serves another folder
if (reason) {
  console.error(`[gramian] building the web page (client-example/web): ${reason} …`);
  try {
    const { build } = await import('vite');
    await build({ configFile: path.join(web, 'vite.config.ts'), logLevel: 'warn' });
  } catch (error) {
    // E.g. an install without dev dependencies (no Vite).
    console.error(`[gramian] could not build the web page: ${error instanceof Error ? error.message : String(error)}`);
  }
}
