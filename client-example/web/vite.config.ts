// Builds the page into dist/, which the Gramian server serves at / (CLIENT_DIR). Plain static files: the page talks
// to the same origin it was loaded from, so nothing here is needed at run time.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The server caches everything under assets/ forever: Vite names those files after their content hash.
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: true,
  },
  // `npx vite client-example/web` for editing with hot reload, against a server already running on port 4000.
  server: {
    proxy: {
      '/graphql': { target: 'http://localhost:4000', ws: true },
      '/images': 'http://localhost:4000',
    },
  },
});
