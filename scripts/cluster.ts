// `npm run cluster`: a local cluster of 2 API nodes and 2 workers on this machine's PostgreSQL and Redis, sharing an
// image folder under ./data/cluster, each node's log lines prefixed with its name. Ctrl-C (or SIGTERM) stops every
// node with SIGTERM, as a deployment would: workers finish their step and save a checkpoint; a second Ctrl-C kills.
//
//   npm run cluster                                    # API nodes on 4001, 4002; workers on 4011, 4012
//   npm run cluster -- --api 3 --workers 1 --port 5001
//   DATABASE_URL=postgresql://me@db:5432/gramian REDIS_URL=redis://cache:6379 npm run cluster
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkRedis,
  ClusterNode,
  ensureDatabase,
  killOnExit,
  REPO_ROOT,
  stopAll,
  type NodeRole,
} from './cluster-nodes.js';

const { values } = parseArgs({
  options: {
    api: { type: 'string', default: '2' },
    workers: { type: 'string', default: '2' },
    port: { type: 'string', default: '4001' },
  },
});
const integer = (name: string, raw: string, min: number, max: number): number => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    fail(`--${name}=${raw} must be an integer from ${min} to ${max}`);
  return value;
};

function fail(message: string): never {
  console.error(`[cluster] ${message}`);
  process.exit(1);
}

const apiCount = integer('api', values.api, 1, 10);
const workerCount = integer('workers', values.workers, 0, 10);
/** API nodes on firstPort, firstPort + 1, …; workers (/health, /ready, /metrics) on firstPort + 10, + 11, … */
const firstPort = integer('port', values.port, 1, 65_000);
const databaseUrl = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/gramian_cluster';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const root = path.join(REPO_ROOT, 'data/cluster');

try {
  await checkRedis(redisUrl);
  const database = await ensureDatabase(databaseUrl);
  console.error(`[cluster] database ${new URL(databaseUrl).pathname.slice(1)}: ${database}`);
} catch (error) {
  fail(`${(error as Error).message}\n  (set DATABASE_URL and REDIS_URL to use other servers)`);
}

const nodes: ClusterNode[] = [];
killOnExit(nodes);
const start = (role: NodeRole, index: number, port: number) =>
  ClusterNode.start({
    name: `${role}-${index}`,
    role,
    port,
    output: 'prefixed',
    env: {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      IMAGE_STORE: path.join(root, 'images'),
      DATA_DIR: path.join(root, `${role}-${index}`),
    },
  });
// The first API node alone (it migrates a new database and makes its first rows), then the other API nodes, then
// the workers.
nodes.push(start('api', 1, firstPort));
let stopping = false;
const stop = (signal: string) => {
  if (stopping) {
    console.error(`[cluster] ${signal} again: killing every node`);
    void stopAll(nodes, 'SIGKILL');
    return;
  }
  stopping = true;
  console.error(`[cluster] ${signal}: stopping every node with SIGTERM (again to kill)`);
  void stopAll(nodes).then(() => process.exit(0));
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

try {
  await nodes[0]!.ready;
  if (!stopping) for (let i = 1; i < apiCount; i++) nodes.push(start('api', i + 1, firstPort + i));
  await Promise.all(nodes.map((node) => node.ready));
  if (!stopping) for (let i = 0; i < workerCount; i++) nodes.push(start('worker', i + 1, firstPort + 10 + i));
  await Promise.all(nodes.map((node) => node.ready));
} catch (error) {
  if (!stopping) {
    // The node's log is above (prefixed): the message's first line says which and how.
    console.error(`[cluster] ${(error as Error).message.split('\n')[0]!.replace(/:$/, '')}; stopping the others`);
    await stopAll(nodes);
    process.exit(1);
  }
}
if (!stopping) {
  console.error('[cluster] up:');
  for (const node of nodes)
    console.error(`  ${node.name.padEnd(9)} ${node.url}${node.options.role === 'api' ? '/graphql' : '/metrics'}`);
  console.error(`  database  ${databaseUrl}\n  redis     ${redisUrl}\n  images    ${path.join(root, 'images')}`);
}
// A node that dies on its own is reported and the others keep running; once none is left, this exits too.
for (const node of nodes)
  void node.exited.then((code) => {
    if (stopping) return;
    console.error(`[cluster] ${node.name} exited (${code}) on its own`);
    if (nodes.every((other) => !other.running)) process.exit(1);
  });
