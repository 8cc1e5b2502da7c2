// `npm start` runs this first (prestart): it builds the web page when client-example/web/dist has no index.html, so
// `npm ci && npm start` on a fresh machine serves it at /. An existing build is left as it is (`npm run
// build:client` rebuilds, with the type check). Never stops the server from starting: without a page, GET / says
// how to build one.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = `${root}client-example/web/vite.config.ts`;

if (process.env.CLIENT_DIR) {
  // The server serves another folder: nothing to build here.
} else if (!existsSync(`${root}client-example/web/dist/index.html`)) {
  console.error('[gramian] building the web page (client-example/web) …');
  try {
    const { build } = await import('vite');
    await build({ configFile: config, logLevel: 'warn' });
  } catch (error) {
    // E.g. an install without dev dependencies (no Vite).
    console.error(`[gramian] could not build the web page: ${error instanceof Error ? error.message : String(error)}`);
  }
}
