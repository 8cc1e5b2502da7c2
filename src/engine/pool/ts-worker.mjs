// Starts a TypeScript worker thread: Node 20 does not apply `--import tsx` to a worker's entry module, so the
// worker registers tsx itself and then imports the entry named in its argv.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
