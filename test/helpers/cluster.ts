// A cluster of real processes for tests: a Redis server of its own (so that it can be stopped and started again
// without disturbing other tests), a fresh PostgreSQL database, a shared image folder, and API nodes and workers
// started as `node src/main.ts` with GRAMIAN_ROLE, each killed for real.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, PrivateRedis } from '../../scripts/cluster-nodes.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { testEnv } from './server.js';
import { REPO_ROOT } from './shared.js';

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) =>
    proc.exitCode !== null || proc.signalCode !== null
      ? resolve(proc.exitCode)
      : proc.once('exit', (code) => resolve(code)),
  );
}

export type Role = 'api' | 'worker';

export class Node {
  readonly log: string[] = [];
  constructor(
    readonly role: Role,
    readonly port: number,
    readonly proc: ChildProcess,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stopped by the test (any exit after that is expected). */
  stopped = false;

  /** Whether it died without the test stopping it. */
  get crashed(): boolean {
    return !this.stopped && (this.proc.exitCode !== null || this.proc.signalCode !== null);
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    this.stopped = true;
    this.proc.kill(signal);
    return exited(this.proc);
  }

  /** Runs this worker holds now, from its /metrics. */
  async held(): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    return Number(/^gramian_runs_held (\d+)/m.exec(text)?.[1] ?? 0);
  }
}

export class TestCluster {
  readonly nodes: Node[] = [];

  private constructor(
    readonly database: TestDatabase,
    readonly redis: PrivateRedis,
    readonly dataRoot: string,
    private readonly extraEnv: Record<string, string>,
  ) {}

  static async create(extraEnv: Record<string, string> = {}): Promise<TestCluster> {
    const database = await createTestDatabase();
    const redis = await PrivateRedis.start();
    const dataRoot = await mkdtemp(path.join(os.tmpdir(), 'gramian-cluster-'));
    return new TestCluster(database, redis, dataRoot, extraEnv);
  }

  /** Starts a node and resolves once it listens (an API node) or takes runs (a worker). */
  async start(role: Role, env: Record<string, string> = {}): Promise<Node> {
    const port = await freePort();
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...testEnv(path.join(this.dataRoot, `${role}-${port}`), {
          PORT: String(port),
          GRAMIAN_ROLE: role,
          DATABASE_URL: this.database.url,
          REDIS_URL: this.redis.url,
          IMAGE_STORE: path.join(this.dataRoot, 'images'),
          GRAMIAN_WORKERS: '1',
          GRAMIAN_WASM_THREADS: '1',
          ...this.extraEnv,
          ...env,
        }),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const node = new Node(role, port, proc);
    await new Promise<void>((resolve, reject) => {
      proc.stderr.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        node.log.push(text);
        if (process.env.GRAMIAN_TEST_LOG) process.stderr.write(`[${role}:${port}] ${text}`);
        if (text.includes('GraphQL and GraphiQL at') || text.includes('taking runs')) resolve();
      });
      proc.once('exit', (code) =>
        reject(new Error(`${role} node exited with ${code} before it was up:\n${node.log.join('')}`)),
      );
    });
    this.nodes.push(node);
    return node;
  }

  async stop(): Promise<void> {
    const alive = this.nodes.filter((node) => node.proc.exitCode === null && node.proc.signalCode === null);
    await Promise.all(alive.map((node) => node.kill('SIGKILL')));
    await this.redis.stop();
    await this.database.drop();
    await rm(this.dataRoot, { recursive: true, force: true });
  }
}
