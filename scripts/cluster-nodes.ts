// Cluster nodes as child processes, for `npm run cluster` and `npm run bench:cluster`: each node is
// `node --import tsx src/main.ts` with GRAMIAN_ROLE, ready once it logs that it listens (API) or takes runs (worker),
// stopped with SIGTERM as a real deployment stops it. Also a private redis-server on a free port, and probes that say
// clearly when PostgreSQL or Redis cannot be reached. Nothing in src/ imports this.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type NodeRole = 'api' | 'worker';

/** What a node's log lines go to: prefixed with its name on stderr, or kept only for an error message. */
export type NodeOutput = 'prefixed' | 'quiet';

export interface NodeOptions {
  name: string;
  role: NodeRole;
  port: number;
  /** Added to this process's environment (DATABASE_URL, REDIS_URL, IMAGE_STORE, DATA_DIR, …). */
  env: Record<string, string>;
  output: NodeOutput;
}

/** The line main.ts logs once an API node listens or a worker takes runs. */
const READY_LINE = { api: 'GraphQL and GraphiQL at', worker: 'taking runs' } as const;
/** How much of a quiet node's log is kept for the message of a failure. */
const KEPT_LOG_CHARS = 20_000;

function hasExited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

export class ClusterNode {
  /** The node's recent output (stdout and stderr), for the message when it fails. */
  private log = '';
  readonly exited: Promise<number | null>;
  /** Resolves once the node is up; rejects if it exits first. */
  readonly ready: Promise<void>;

  private constructor(
    readonly options: NodeOptions,
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    this.ready = new Promise((resolve, reject) => {
      let partial = '';
      const take = (chunk: Buffer) => {
        const text = chunk.toString();
        this.log = (this.log + text).slice(-KEPT_LOG_CHARS);
        if (this.log.includes(READY_LINE[options.role])) resolve();
        if (options.output !== 'prefixed') return;
        // Whole lines only, each with the node's name, so that the nodes' interleaved output stays readable.
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) process.stderr.write(`[${options.name}] ${line}\n`);
      };
      proc.stdout?.on('data', take);
      proc.stderr?.on('data', take);
      proc.once('exit', (code, signal) => {
        if (partial && options.output === 'prefixed') process.stderr.write(`[${options.name}] ${partial}\n`);
        reject(new Error(`${options.name} exited (${signal ?? `code ${code}`}) before it was up:\n${this.log}`));
      });
    });
    // A node that exits later is reported by whoever waits on `exited`; the rejection above is only for `ready`.
    this.ready.catch(() => {});
  }

  /**
   * Starts a node in a process group of its own: a Ctrl-C in the terminal reaches only the parent, which then stops
   * each node with SIGTERM, as an orchestrator would.
   */
  static start(options: NodeOptions): ClusterNode {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env, GRAMIAN_ROLE: options.role, PORT: String(options.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    return new ClusterNode(options, proc);
  }

  get name(): string {
    return this.options.name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get running(): boolean {
    return !hasExited(this.proc);
  }

  /** The node's recent output. */
  get output(): string {
    return this.log;
  }

  /** Sends `signal` and resolves with the exit code once the node has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }

  /** A value of this node's /metrics (the first sample of `name`), or 0 where it has none. */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return Number(match?.[1] ?? 0);
  }
}

/** Stops every node with SIGTERM, at once, and waits for all of them. */
export async function stopAll(nodes: ClusterNode[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop(signal)));
}

/** Kills whatever is left of the nodes when this process exits for any reason (no orphans in their own groups). */
export function killOnExit(nodes: ClusterNode[]): void {
  process.once('exit', () => {
    for (const node of nodes) if (node.running) node.proc.kill('SIGKILL');
  });
}

export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A redis-server of this process's own on a free port, keeping nothing on disk (so a restart loses its data). */
export class PrivateRedis {
  private constructor(
    readonly port: number,
    private proc: ChildProcess,
  ) {}

  static async start(): Promise<PrivateRedis> {
    const port = await freePort();
    return new PrivateRedis(port, await spawnRedis(port));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it again on the same port after stop(), empty. */
  async restart(): Promise<void> {
    await this.stop();
    this.proc = await spawnRedis(this.port);
  }

  async stop(): Promise<void> {
    if (hasExited(this.proc)) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGKILL');
    await exited;
  }
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    proc.once('error', (error) => reject(new Error(`redis-server could not start: ${error.message}`)));
    proc.stdout.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${log}`)));
  });
  return proc;
}

/** Resolves if Redis at `url` answers PING within `timeoutMs`, else rejects with a message that says so. */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // connect() rejects with only "Connection is closed."; the error event says why (ECONNREFUSED, a timeout, …).
  let cause: Error | undefined;
  redis.on('error', (error: Error) => (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis at ${url} is not reachable: ${(cause ?? (error as Error)).message}`, { cause: error });
  } finally {
    redis.disconnect();
  }
}

/** `url` with another database name (the server's `postgres` database, to create or drop others from). */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name))
    throw new Error(`the database name in ${url} must be 1-63 letters, digits, _ or -`);
  return name;
}

async function asAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres'), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL at ${new URL(url).host} is not reachable: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates the database `url` names unless it exists; rejects with a clear message if the server is unreachable. */
export async function ensureDatabase(url: string): Promise<'created' | 'existed'> {
  const name = databaseName(url);
  return asAdmin(url, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return 'existed';
    await client.query(`CREATE DATABASE "${name}"`);
    return 'created';
  });
}

/** Drops the database `url` names, closing any connection still open to it. */
export async function dropDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  await asAdmin(url, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
