// `npm start`: the server on the embedded defaults (SQLite under ./data, images under ./data/images, the engine in
// worker threads of this process), configured by environment variables (see README).
import { ConfigError, loadConfig } from './config.js';
import { startServer } from './server.js';

const log = (message: string) => console.error(`[gramian] ${message}`);
try {
  const server = await startServer(loadConfig(), log);
  const config = server.services.config;
  if (config.role === 'worker') log(`worker ${process.pid}: taking runs; /health, /ready, /metrics at ${server.url}`);
  else log(`web page at ${server.url}/ · GraphQL and GraphiQL at ${server.url}/graphql`);
  const stop = (signal: string) => {
    log(`${signal}: finishing the current step, saving a checkpoint, then stopping`);
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // A failure in one request must not take the server down with it.
  process.on('unhandledRejection', (reason) =>
    log(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`),
  );
} catch (error) {
  log(
    error instanceof ConfigError
      ? error.message
      : `could not start: ${error instanceof Error ? error.stack : String(error)}`,
  );
  process.exit(1);
}
