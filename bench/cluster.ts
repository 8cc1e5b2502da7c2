// Cluster benchmark: real processes (2 API nodes, 1 then 2 workers) on a redis-server of this bench's own and a fresh
// PostgreSQL database, sharing an image folder. Prints Markdown tables and writes bench/results/cluster.json.
//
//   npm run bench:cluster
//   npm run bench:cluster -- --runs 12 --run-size 32 --run-steps 8 --subscribers 100,500 --latency-steps 30
//   BENCH_POSTGRES=postgresql://me@db:5432 BENCH_LOG=1 npm run bench:cluster   # BENCH_LOG: the nodes' logs
//
// a. Throughput: N small Gatys runs queued at once through the API nodes (alternately), with 1 worker and then with 2
//    (one engine worker each, GRAMIAN_WASM_THREADS=1, so 2 workers use the 2 cores); runs per minute from the first
//    startTransfer sent to the last run's end event. Each worker does a warm-up run first (weights, kernels).
// b. Step-event latency across nodes: S graphql-ws clients (one socket each, real sockets, spread evenly over the two
//    API nodes) subscribed to runEvents of one run that the remaining worker computes. A raw Redis subscriber in this
//    process notes when each step event crosses Redis (the worker's publish, within a fraction of a ms); a step's
//    latency for a client is its receipt − that time, both on this process's monotonic clock. So that no client can
//    subscribe late, a "gate" run holds the only worker while every client subscribes to the queued measured run and
//    gets its snapshot; then the gate is cancelled and the measured run starts.
//
// The API nodes' limits do not get in the way: auth is off on loopback (GRAMIAN_AUTH=auto; requests act as the local
// admin, so MAX_QUEUED_RUNS_PER_OWNER does not apply), nothing caps WebSocket connections, and RATE_LIMIT_MUTATIONS
// (mutations only, 120 a minute by default) is set to 0 here because the bench queues its runs in bursts.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import {
  ClusterNode,
  dropDatabase,
  ensureDatabase,
  freePort,
  killOnExit,
  PrivateRedis,
  stopAll,
  type NodeRole,
} from '../scripts/cluster-nodes.js';
import { machineInfo, REPO_ROOT, SHARED } from './machine.js';

const RESULTS_FILE = path.join(REPO_ROOT, 'bench/results/cluster.json');
const WEIGHTS = path.join(SHARED, 'models/vgg19-uint8-neuralpixels');
const CONTENT = path.join(SHARED, 'images/content/golden_gate.jpg');
const STYLE = path.join(SHARED, 'images/style/the_scream.jpg');
const POSTGRES = process.env.BENCH_POSTGRES ?? 'postgresql://postgres@127.0.0.1:5432';
const PREFIX = 'gramianbench';
/** Sockets opened at once while connecting; the rest wait for the batch (keeps the accept backlogs small). */
const CONNECT_BATCH = 50;
const GATE_PARAMS = { size: 32, steps: 5000, previewEvery: 0 };
const RUN_TIMEOUT_MS = 180_000;

/** Milliseconds on the process's monotonic clock. */
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const round = (value: number, digits = 1) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value);

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms / 1000} s`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map(describe).join('; ');
  const e = error as { code?: unknown; reason?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'number') return `close ${e.code}${typeof e.reason === 'string' ? ` ${e.reason}` : ''}`;
  if (typeof e?.message === 'string') return e.message;
  return String(error);
}

// ---------------------------------------------------------------------------------------------------------------
// GraphQL over HTTP

async function graphql<T>(url: string, query: string, variables: Record<string, unknown>, upload?: string): Promise<T> {
  let init: RequestInit;
  if (upload) {
    // GraphQL multipart request; the server refuses one without this header (CSRF prevention).
    const form = new FormData();
    form.append('operations', JSON.stringify({ query, variables }));
    form.append('map', JSON.stringify({ 0: [upload] }));
    form.append('0', new Blob([await readFile(upload === 'variables.input.image' ? STYLE : CONTENT)]), 'image.jpg');
    init = { method: 'POST', body: form, headers: { 'graphql-require-preflight': '1' } };
  } else {
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    };
  }
  const response = await fetch(`${url}/graphql`, init);
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data)
    throw new Error(`GraphQL (HTTP ${response.status}): ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
  return body.data;
}

type Result<T> = T & { __typename: string; code?: string; message?: string };

function unwrap<T>(result: Result<T>, typename: string): T {
  if (result.__typename !== typename) throw new Error(`${result.__typename}: ${result.code} ${result.message}`);
  return result;
}

const ERROR_FIELDS = '... on Error { code message }';

async function uploadStyle(url: string): Promise<string> {
  const data = await graphql<{ uploadStyle: Result<{ id: string }> }>(
    url,
    `mutation ($input: UploadStyleInput!) {
      uploadStyle(input: $input) { __typename ... on Style { id } ${ERROR_FIELDS} }
    }`,
    { input: { name: `the_scream ${randomUUID().slice(0, 8)}`, image: null } },
    'variables.input.image',
  );
  return unwrap(data.uploadStyle, 'Style').id;
}

interface GatysParams {
  size: number;
  steps: number;
  previewEvery: number;
}

interface Content {
  styleId: string;
  /** The stored content image; before the first run, none (that run uploads it). */
  contentImageId?: string;
}

/** Queues a run; the answer's ids: the GraphQL one and the database one (Redis channels carry the latter). */
async function startRun(url: string, content: Content, params: GatysParams): Promise<{ id: string; runId: string }> {
  const data = await graphql<{ startTransfer: Result<{ id: string }> }>(
    url,
    `mutation ($input: StartTransferInput!) {
      startTransfer(input: $input) { __typename ... on Run { id } ${ERROR_FIELDS} }
    }`,
    {
      input: {
        ...(content.contentImageId ? { contentImageId: content.contentImageId } : { content: null }),
        styles: [{ styleId: content.styleId }],
        params,
      },
    },
    content.contentImageId ? undefined : 'variables.input.content',
  );
  const { id } = unwrap(data.startTransfer, 'Run');
  return { id, runId: decodeGlobalID(id).id };
}

async function cancelRun(url: string, id: string): Promise<void> {
  const data = await graphql<{ cancelRun: Result<{ status: string }> }>(
    url,
    `mutation ($id: ID!) { cancelRun(id: $id) { __typename ... on Run { status } ${ERROR_FIELDS} } }`,
    { id },
  );
  unwrap(data.cancelRun, 'Run');
}

interface RunRow {
  status: string;
  lastStep: number;
  backend: string | null;
  content: { id: string };
  error: { code: string; message: string } | null;
}

async function queryRun(url: string, id: string): Promise<RunRow> {
  const data = await graphql<{ run: RunRow | null }>(
    url,
    `
      query ($id: ID!) {
        run(id: $id) {
          status
          lastStep
          backend
          content {
            id
          }
          error {
            code
            message
          }
        }
      }
    `,
    { id },
  );
  if (!data.run) throw new Error(`run ${id} not found`);
  return data.run;
}

// ---------------------------------------------------------------------------------------------------------------
// What crosses Redis

/** A raw subscriber on every run channel: when each step and end of each run was published. */
class RedisEvents {
  /** runId → step → receipt time. */
  readonly steps = new Map<string, Map<number, number>>();
  private readonly ends = new Map<string, { status: string; at: number }>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly redis: Redis) {
    redis.on('pmessage', (_pattern: string, channel: string, message: string) => {
      const at = now();
      const event = JSON.parse(message) as { kind: string; runId: string; step?: { step: number }; status?: string };
      if (event.kind === 'step' && event.step) {
        const steps = this.steps.get(event.runId) ?? new Map<number, number>();
        if (!steps.has(event.step.step)) steps.set(event.step.step, at);
        this.steps.set(event.runId, steps);
      } else if (event.kind === 'end') this.ends.set(event.runId, { status: event.status ?? '?', at });
      else return;
      for (const wake of this.waiters) wake();
    });
  }

  static async connect(url: string): Promise<RedisEvents> {
    const redis = new Redis(url);
    // The channel of a run's topic, as src/cluster/event-target.ts names it: `${prefix}:events:run:${runId}`.
    await redis.psubscribe(`${PREFIX}:events:run:*`);
    return new RedisEvents(redis);
  }

  /** Resolves once `test` holds (checked now and after every event), or rejects after `ms`. */
  until(test: () => boolean, ms: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    let wake!: () => void;
    const done = new Promise<void>((resolve) => {
      wake = () => {
        if (test()) resolve();
      };
      this.waiters.add(wake);
    });
    return withTimeout(done, ms, what).finally(() => this.waiters.delete(wake));
  }

  end(runId: string): { status: string; at: number } | undefined {
    return this.ends.get(runId);
  }

  close(): void {
    this.redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The cluster

class BenchCluster {
  readonly nodes: ClusterNode[] = [];

  constructor(
    private readonly root: string,
    private readonly env: Record<string, string>,
  ) {
    killOnExit(this.nodes);
  }

  async start(role: NodeRole, name: string): Promise<ClusterNode> {
    const node = ClusterNode.start({
      name,
      role,
      port: await freePort(),
      output: process.env.BENCH_LOG ? 'prefixed' : 'quiet',
      env: { ...this.env, DATA_DIR: path.join(this.root, name) },
    });
    this.nodes.push(node);
    await withTimeout(node.ready, 120_000, `${name} to start`);
    return node;
  }
}

/** Steps each worker computed so far (its gramian_step_seconds histogram's count). */
async function stepsComputed(workers: ClusterNode[]): Promise<number[]> {
  return Promise.all(workers.map((worker) => worker.metric('gramian_step_seconds_count')));
}

// ---------------------------------------------------------------------------------------------------------------
// a. Throughput

interface ThroughputRound {
  workers: number;
  runs: number;
  succeeded: number;
  wallSeconds: number;
  runsPerMinute: number;
  /** Steps each worker computed during the round. */
  stepsPerWorker: number[];
}

async function throughputRound(
  apis: ClusterNode[],
  workers: ClusterNode[],
  events: RedisEvents,
  content: Content,
  runs: number,
  params: GatysParams,
): Promise<ThroughputRound> {
  const stepsBefore = await stepsComputed(workers);
  const start = now();
  const started = await Promise.all(
    Array.from({ length: runs }, (_, i) => startRun(apis[i % apis.length]!.url, content, params)),
  );
  await events
    .until(
      () => started.every((run) => events.end(run.runId)),
      RUN_TIMEOUT_MS,
      `${runs} runs with ${workers.length} worker(s)`,
    )
    .catch(async (error: unknown) => {
      // Which runs never ended, and what the database says of them (a lost job leaves its run QUEUED).
      const unfinished = started.filter((run) => !events.end(run.runId));
      const states = await Promise.all(
        unfinished.map(async (run) => `${run.runId} ${(await queryRun(apis[0]!.url, run.id)).status}`),
      );
      throw new Error(`${describe(error)}; not ended: ${states.join(', ')}`, { cause: error });
    });
  const lastEnd = Math.max(...started.map((run) => events.end(run.runId)!.at));
  const succeeded = started.filter((run) => events.end(run.runId)!.status === 'SUCCEEDED').length;
  const stepsAfter = await stepsComputed(workers);
  const wallSeconds = (lastEnd - start) / 1000;
  return {
    workers: workers.length,
    runs,
    succeeded,
    wallSeconds: round(wallSeconds, 2),
    runsPerMinute: round((succeeded / wallSeconds) * 60),
    stepsPerWorker: stepsAfter.map((after, i) => after - stepsBefore[i]!),
  };
}

/** A run on every worker (queued together, long enough that each worker takes one): weights and kernels loaded. */
async function warmUp(
  api: ClusterNode,
  workers: ClusterNode[],
  events: RedisEvents,
  content: Content,
  params: GatysParams,
): Promise<void> {
  const before = await stepsComputed(workers);
  const started = await Promise.all(workers.map(() => startRun(api.url, content, params)));
  await events.until(() => started.every((run) => events.end(run.runId)), RUN_TIMEOUT_MS, 'the warm-up runs');
  const after = await stepsComputed(workers);
  const idle = workers.filter((_, i) => after[i] === before[i]).map((worker) => worker.name);
  if (idle.length > 0) progress(`warning: ${idle.join(', ')} took no warm-up run; its first measured run is cold`);
}

// ---------------------------------------------------------------------------------------------------------------
// b. Step-event latency

const SUBSCRIPTION = /* GraphQL */ `
  subscription ($runId: ID!) {
    runEvents(runId: $runId) {
      __typename
      ... on RunSnapshot {
        status
        lastStep {
          step
        }
      }
      ... on RunStepAdded {
        step {
          step
        }
      }
      ... on RunEnded {
        status
      }
    }
  }
`;

type EventData =
  | { __typename: 'RunSnapshot'; status: string; lastStep: { step: number } | null }
  | { __typename: 'RunStepAdded'; step: { step: number } }
  | { __typename: 'RunEnded'; status: string }
  | { __typename: 'RunStatusChanged' | 'RunPreviewAdded' | 'RunDownloadProgress' };

interface Subscriber {
  client?: Client;
  /** Which API node its socket is on. */
  node: number;
  snapshot?: { status: string; lastStep: number | null };
  steps: number[];
  at: number[];
  ended?: string;
  completed: boolean;
  errors: string[];
}

function connect(url: string, node: number): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const subscriber: Subscriber = { node, steps: [], at: [], completed: false, errors: [] };
    subscriber.client = createClient({
      url: url.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: (error) => reject(new Error(`socket to ${url}: ${describe(error)}`)),
      on: { connected: () => resolve(subscriber) },
    });
  });
}

async function connectAll(apis: ClusterNode[], count: number): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  for (let first = 0; first < count; first += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - first) }, (_, k) => {
      const node = (first + k) % apis.length;
      return connect(apis[node]!.url, node);
    });
    subscribers.push(...(await Promise.all(batch)));
  }
  return subscribers;
}

/** Subscribes every client to the run; resolves once each has its snapshot, with a promise of all completing. */
async function subscribeAll(subscribers: Subscriber[], id: string): Promise<{ done: Promise<void> }> {
  let snapshots = 0;
  let completed = 0;
  let allSnapshots!: () => void;
  let allCompleted!: () => void;
  const snapshotted = new Promise<void>((resolve) => (allSnapshots = resolve));
  const done = new Promise<void>((resolve) => (allCompleted = resolve));
  const complete = () => {
    if (++completed === subscribers.length) allCompleted();
  };
  for (const subscriber of subscribers) {
    subscriber.client!.subscribe<{ runEvents: EventData }>(
      { query: SUBSCRIPTION, variables: { runId: id } },
      {
        next: (result) => {
          const at = now();
          if (result.errors?.length) subscriber.errors.push(result.errors.map((e) => e.message).join('; '));
          const event = result.data?.runEvents;
          if (event?.__typename === 'RunStepAdded') {
            subscriber.steps.push(event.step.step);
            subscriber.at.push(at);
          } else if (event?.__typename === 'RunSnapshot') {
            subscriber.snapshot = { status: event.status, lastStep: event.lastStep?.step ?? null };
            if (++snapshots === subscribers.length) allSnapshots();
          } else if (event?.__typename === 'RunEnded') subscriber.ended = event.status;
        },
        error: (error) => {
          subscriber.errors.push(describe(error));
          complete();
        },
        complete: () => {
          subscriber.completed = true;
          complete();
        },
      },
    );
  }
  await withTimeout(snapshotted, 60_000, `snapshots for ${subscribers.length} subscribers`);
  return { done };
}

interface LatencyRound {
  subscribers: number;
  perNode: number[];
  steps: number;
  expectedEvents: number;
  receivedEvents: number;
  /** Subscribers that got every step exactly once, in order. */
  complete: number;
  missing: number;
  duplicates: number;
  ended: number;
  errors: string[];
  latencyMs: { p50: number; p99: number; max: number };
  latencyMsByNode: { p50: number; p99: number }[];
  runSeconds: number;
  /** Median time between two step events of the run on Redis: how fast events came. */
  stepIntervalMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function latencyRound(
  apis: ClusterNode[],
  events: RedisEvents,
  content: Content,
  count: number,
  params: GatysParams,
): Promise<LatencyRound> {
  progress(`  connecting ${count} sockets`);
  const subscribers = await connectAll(apis, count);
  try {
    // The gate holds the only worker (its first step published) so that the measured run waits in the queue.
    const gate = await startRun(apis[0]!.url, content, GATE_PARAMS);
    await events.until(() => (events.steps.get(gate.runId)?.size ?? 0) > 0, RUN_TIMEOUT_MS, 'the gate run to start');
    const measured = await startRun(apis[0]!.url, content, params);
    progress(`  subscribing ${count} clients to run ${measured.runId}`);
    const { done } = await subscribeAll(subscribers, measured.id);
    const early = subscribers.filter((s) => s.snapshot?.status !== 'QUEUED' || s.snapshot.lastStep !== null);
    if (early.length > 0) throw new Error(`${early.length} snapshots were not of a queued run: the gate failed`);
    await cancelRun(apis[1 % apis.length]!.url, gate.id);
    await withTimeout(done, RUN_TIMEOUT_MS, `${count} subscriptions to complete`).catch((error: unknown) =>
      progress(`  ${describe(error)}`),
    );
    const published = events.steps.get(measured.runId) ?? new Map<number, number>();
    const end = events.end(measured.runId);
    const latencies: number[] = [];
    const byNode: number[][] = apis.map(() => []);
    let missing = 0;
    let duplicates = 0;
    let complete = 0;
    for (const subscriber of subscribers) {
      const seen = new Set<number>();
      subscriber.steps.forEach((step, i) => {
        if (seen.has(step)) duplicates++;
        seen.add(step);
        const publishedAt = published.get(step);
        if (publishedAt === undefined) return;
        latencies.push(subscriber.at[i]! - publishedAt);
        byNode[subscriber.node]!.push(subscriber.at[i]! - publishedAt);
      });
      missing += params.steps - [...seen].filter((step) => step >= 1 && step <= params.steps).length;
      const inOrder = subscriber.steps.every((step, i) => step === i + 1);
      if (inOrder && subscriber.steps.length === params.steps) complete++;
    }
    const sorted = latencies.sort((a, b) => a - b);
    const stepTimes = [...published.values()].sort((a, b) => a - b);
    const intervals = stepTimes
      .slice(1)
      .map((at, i) => at - stepTimes[i]!)
      .sort((a, b) => a - b);
    return {
      subscribers: count,
      perNode: apis.map((_, node) => subscribers.filter((s) => s.node === node).length),
      steps: params.steps,
      expectedEvents: count * params.steps,
      receivedEvents: subscribers.reduce((sum, s) => sum + s.steps.length, 0),
      complete,
      missing,
      duplicates,
      ended: subscribers.filter((s) => s.ended === 'SUCCEEDED' && s.completed).length,
      errors: [...new Set(subscribers.flatMap((s) => s.errors))].slice(0, 5),
      latencyMs: {
        p50: round(percentile(sorted, 50), 2),
        p99: round(percentile(sorted, 99), 2),
        max: round(sorted.at(-1) ?? NaN, 2),
      },
      latencyMsByNode: byNode.map((values) => {
        const nodeSorted = values.sort((a, b) => a - b);
        return { p50: round(percentile(nodeSorted, 50), 2), p99: round(percentile(nodeSorted, 99), 2) };
      }),
      runSeconds: round(((end?.at ?? NaN) - (stepTimes[0] ?? NaN)) / 1000, 2),
      stepIntervalMs: round(percentile(intervals, 50)),
    };
  } finally {
    await Promise.all(subscribers.map((s) => Promise.resolve(s.client?.dispose())));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main

function parseOptions() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '30' },
      'run-size': { type: 'string', default: '32' },
      'run-steps': { type: 'string', default: '8' },
      subscribers: { type: 'string', default: '100,500' },
      'latency-size': { type: 'string', default: '48' },
      'latency-steps': { type: 'string', default: '30' },
    },
  });
  const integer = (name: keyof typeof values, raw: string) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}=${raw} must be a whole number`);
    return value;
  };
  return {
    runs: integer('runs', values.runs),
    run: {
      size: integer('run-size', values['run-size']),
      steps: integer('run-steps', values['run-steps']),
      previewEvery: 0,
    },
    subscribers: values.subscribers.split(',').map((n) => integer('subscribers', n)),
    latency: {
      size: integer('latency-size', values['latency-size']),
      steps: integer('latency-steps', values['latency-steps']),
      previewEvery: 0,
    },
  };
}

function tables(throughput: ThroughputRound[], latency: LatencyRound[]): string {
  const lines = [
    '| workers | runs | succeeded | wall (s) | runs / min | steps per worker |',
    '|---:|---:|---:|---:|---:|---|',
    ...throughput.map(
      (r) =>
        `| ${r.workers} | ${r.runs} | ${r.succeeded} | ${r.wallSeconds} | ${r.runsPerMinute} | ` +
        `${r.stepsPerWorker.join(' / ')} |`,
    ),
    '',
    '| subscribers (per API node) | step events received / expected | every step once | missing | duplicates | ' +
      'ended | latency p50 / p99 / max (ms) | p50 / p99 by API node (ms) | step interval (ms) |',
    '|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    ...latency.map(
      (r) =>
        `| ${r.subscribers} (${r.perNode.join(' + ')}) | ${r.receivedEvents} / ${r.expectedEvents} | ` +
        `${r.complete} / ${r.subscribers} | ${r.missing} | ${r.duplicates} | ${r.ended} | ` +
        `${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max} | ` +
        `${r.latencyMsByNode.map((n) => `${n.p50} / ${n.p99}`).join(' · ')} | ${r.stepIntervalMs} |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  const options = parseOptions();
  const loadAtStart = os.loadavg();
  const began = now();
  const root = await mkdtemp(path.join(os.tmpdir(), 'gramian-bench-cluster-'));
  const databaseUrl = `${POSTGRES.replace(/\/$/, '')}/gramian_bench_${process.pid}_${randomUUID().slice(0, 8)}`;
  progress(`load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}; data in ${root}`);
  await ensureDatabase(databaseUrl);
  const redis = await PrivateRedis.start();
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    REDIS_PREFIX: PREFIX,
    IMAGE_STORE: path.join(root, 'images'),
    GRAMIAN_BACKEND: process.env.GRAMIAN_BACKEND || 'wasm',
    GRAMIAN_WEIGHTS: WEIGHTS,
    GRAMIAN_MODELS: path.join(SHARED, 'models'),
    GRAMIAN_WEIGHTS_DOWNLOAD: 'false',
    GRAMIAN_WORKERS: '1',
    GRAMIAN_WASM_THREADS: '1',
    RATE_LIMIT_MUTATIONS: '0',
    GC_INTERVAL_SECONDS: '0',
  };
  const cluster = new BenchCluster(root, env);
  let events: RedisEvents | undefined;
  try {
    events = await RedisEvents.connect(redis.url);
    progress('starting 2 API nodes and a worker');
    // One after the other: two nodes starting together on an empty database can both try to create the image-URL
    // key (src/auth/image-urls.ts, a unique-constraint failure seen here); the bench does not measure start-up.
    const apis: [ClusterNode, ClusterNode] = [await cluster.start('api', 'api-1'), await cluster.start('api', 'api-2')];
    const workers = [await cluster.start('worker', 'worker-1')];
    const styleId = await uploadStyle(apis[0].url);
    // The first run uploads the content image; every later run reuses it (no upload in what is timed).
    const first = await startRun(apis[0].url, { styleId }, options.run);
    await events.until(() => Boolean(events!.end(first.runId)), RUN_TIMEOUT_MS, 'the first run');
    const firstRow = await queryRun(apis[1].url, first.id);
    if (firstRow.status !== 'SUCCEEDED')
      throw new Error(`the first run ${firstRow.status}: ${firstRow.error?.message}`);
    const content: Content = { styleId, contentImageId: firstRow.content.id };
    progress(`worker backend ${firstRow.backend}; ${options.runs} runs with 1 worker`);
    const throughput = [await throughputRound(apis, workers, events, content, options.runs, options.run)];

    workers.push(await cluster.start('worker', 'worker-2'));
    await warmUp(apis[0], workers, events, content, { ...options.run, steps: 40 });
    progress(`${options.runs} runs with 2 workers`);
    throughput.push(await throughputRound(apis, workers, events, content, options.runs, options.run));
    // Latency: one worker computes the run, so the gate can hold the queue.
    const worker2Exit = await workers.pop()!.stop('SIGTERM');
    progress(`worker-2 stopped with SIGTERM: exit code ${worker2Exit}`);

    const latency: LatencyRound[] = [];
    for (const count of options.subscribers) {
      progress(`${count} subscribers`);
      latency.push(await latencyRound(apis, events, content, count, options.latency));
    }

    const output = tables(throughput, latency);
    console.log(
      `\nCluster: 2 API nodes, workers with 1 engine worker and 1 wasm thread each (backend ${firstRow.backend}), ` +
        `PostgreSQL, a private Redis; load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}\n` +
        `Throughput: ${options.runs} Gatys runs of ${options.run.size} px × ${options.run.steps} steps queued at ` +
        'once, first startTransfer → last end event.\n' +
        `Latency: a ${options.latency.size} px × ${options.latency.steps}-step run; step event over Redis → ` +
        'graphql-ws receipt, over all (subscriber, step) pairs.\n',
    );
    console.log(output);
    await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
    await writeFile(
      RESULTS_FILE,
      JSON.stringify(
        {
          ...machineInfo(loadAtStart),
          loadAverageAtEnd: os.loadavg().map((l) => round(l)),
          wallSeconds: round((now() - began) / 1000),
          cluster: {
            apiNodes: 2,
            backend: firstRow.backend,
            engineWorkersPerNode: 1,
            wasmThreads: 1,
            worker2ExitCodeOnSigterm: worker2Exit,
          },
          images: { content: path.relative(REPO_ROOT, CONTENT), style: path.relative(REPO_ROOT, STYLE) },
          weights: path.relative(REPO_ROOT, WEIGHTS),
          throughput: { params: options.run, rounds: throughput },
          latency: { params: options.latency, rounds: latency },
        },
        null,
        2,
      ) + '\n',
    );
    progress(`wrote ${path.relative(REPO_ROOT, RESULTS_FILE)} after ${round((now() - began) / 1000)} s`);
    return 0;
  } catch (error) {
    progress(`failed: ${describe(error)}`);
    for (const node of cluster.nodes)
      if (!node.running || process.env.BENCH_LOG === undefined)
        progress(`${node.name} log (tail):\n${node.output.split('\n').slice(-15).join('\n')}`);
    return 1;
  } finally {
    events?.close();
    await stopAll(cluster.nodes);
    await redis.stop();
    await dropDatabase(databaseUrl);
    await rm(root, { recursive: true, force: true });
  }
}

process.exit(await main());
