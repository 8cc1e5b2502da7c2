// Subscription fan-out benchmark: a real server in this process (temp DATA_DIR, real VGG19), one style uploaded over
// HTTP, then for each N one Gatys run followed by N graphql-ws clients (one WebSocket each) subscribed to runEvents.
// Measures whether every client gets every event (each step exactly once and in order, every preview, the end), the
// publish-to-receipt latency of step events over all (client, event) pairs, the engine's ms per step during the run,
// and the main thread's event-loop delay. Prints a Markdown table and writes bench/results/server.json.
//
//   npm run bench:server                                   # N = 100 and 500
//   npm run bench:server -- --subscribers 0,100,500        # 0 = a baseline run without subscribers
//   npm run bench:server -- --size 48 --steps 200 --preview-every 10 --inline-clients
//
// How a round goes, so that no client can subscribe after the first step:
//   1. the N clients connect (connection_init / ack) before anything else;
//   2. a "gate" run (32 px, 5000 steps) is started and takes the only engine worker (GRAMIAN_WORKERS=1), so the
//      measured run that follows stays QUEUED;
//   3. every client subscribes to the measured run and receives its snapshot (QUEUED, no steps yet);
//   4. the gate run is cancelled (cancelRun over HTTP) and the measured run starts; every event published for it
//      from then on must reach every client.
//
// The clients run in a worker thread by default, so the main thread's event-loop delay is the server's own (GraphQL
// execution, serialisation and ws writes per subscriber); --inline-clients puts them on the main thread instead.
// Publish and receipt times come from process.hrtime (the monotonic clock performance.now() also reads), which is
// shared by all threads of the process, so they can be compared across the worker boundary.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import type { RunEvent } from '../src/domain/topics.js';
import { startServer, type GramianServer } from '../src/server.js';
import { machineInfo, REPO_ROOT, SHARED } from './machine.js';

const WEIGHTS = path.resolve(REPO_ROOT, '../shared/models/vgg19-uint8-neuralpixels');
const CONTENT = path.join(SHARED, 'images/content/golden_gate.jpg');
const STYLE = path.join(SHARED, 'images/style/the_scream.jpg');
const RESULTS_FILE = path.join(REPO_ROOT, 'bench/results/server.json');
/** Starts a TypeScript worker thread (registers tsx, then imports the entry in its argv). */
const WORKER_BOOTSTRAP = new URL('../src/engine/pool/ts-worker.mjs', import.meta.url);

const DEFAULT_SUBSCRIBERS = [100, 500];
/** Sockets opened at once while connecting; the rest wait for the batch (keeps the accept backlog small). */
const CONNECT_BATCH = 50;
const GATE_PARAMS = { size: 32, steps: 5000, previewEvery: 0 };
const WARMUP_STEPS = 5;
/** 48 px steps take ~65 ms here (wasm, 2 threads), so 200 steps make a run of ~13 s. */
const DEFAULT_STEPS = 200;

/** Milliseconds on the monotonic clock every thread of the process shares. */
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

const SUBSCRIPTION = /* GraphQL */ `
  subscription RunEvents($runId: ID!) {
    runEvents(runId: $runId) {
      __typename
      ... on RunSnapshot {
        status
        queuePosition
        lastStep {
          step
        }
        run {
          id
          totalSteps
        }
      }
      ... on RunStatusChanged {
        status
        queuePosition
      }
      ... on RunStepAdded {
        totalSteps
        step {
          step
          scale
          contentLoss
          styleLoss
          tvLoss
          totalLoss
          ms
        }
      }
      ... on RunPreviewAdded {
        dataUrl
        preview {
          step
          image {
            id
            width
            height
          }
        }
      }
      ... on RunEnded {
        status
        run {
          id
          status
          lastStep
        }
      }
    }
  }
`;

// ---------------------------------------------------------------------------------------------------------------
// Clients (the same code on the main thread or in the worker)

/** Everything one client saw, with receipt times. */
interface ClientRecord {
  index: number;
  snapshot: { status: string; lastStep: number | null; queuePosition: number | null; at: number } | null;
  /** Event keys in receipt order (snapshot excluded): status:RUNNING, step:3, preview:10, end:SUCCEEDED. */
  keys: string[];
  /** Receipt time of each key, same order. */
  at: number[];
  totalSteps: number | null;
  completed: boolean;
  errors: string[];
  /** Close codes seen before the bench disposed the client. */
  closes: string[];
}

interface Clients {
  /** Opens every socket and waits for every connection_ack; resolves with the time it took. */
  connect(): Promise<number>;
  /** Subscribes every client to the run; resolves when every client has its snapshot, with the time it took. */
  subscribe(runId: string, timeoutMs: number): Promise<number>;
  /** Resolves when every subscription has completed or failed (or the time is up), with what each client saw. */
  finished(timeoutMs: number): Promise<ClientRecord[]>;
  close(): Promise<void>;
  /** Event-loop utilisation of the clients' own thread (null when they share the main thread). */
  utilization(previous?: EventLoopUtilization): EventLoopUtilization | null;
}

/** A value that String() writes out as itself (an object would be "[object Object]"). */
function isText(value: unknown): value is string | number | boolean | bigint {
  return ['string', 'number', 'boolean', 'bigint'].includes(typeof value);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map(describe).join('; ');
  if (error && typeof error === 'object') {
    // A CloseEvent (numeric code, string reason), an Event (string type) or an error-like object.
    const e = error as { code?: unknown; reason?: unknown; message?: unknown; type?: unknown };
    if (isText(e.code)) return `close ${String(e.code)}${e.reason && isText(e.reason) ? ` ${String(e.reason)}` : ''}`;
    if (isText(e.message)) return String(e.message);
    if (isText(e.type)) return `event ${String(e.type)}`;
  }
  return String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type EventData =
  | {
      __typename: 'RunSnapshot';
      status: string;
      queuePosition: number | null;
      lastStep: { step: number } | null;
      run: { id: string; totalSteps: number };
    }
  | { __typename: 'RunStatusChanged'; status: string; queuePosition: number | null }
  | { __typename: 'RunStepAdded'; totalSteps: number; step: { step: number; ms: number } }
  | { __typename: 'RunPreviewAdded'; dataUrl: string; preview: { step: number; image: { id: string } } }
  | { __typename: 'RunEnded'; status: string; run: { id: string; status: string; lastStep: number } };

class ClientPool implements Clients {
  private readonly clients: Client[] = [];
  private readonly records: ClientRecord[] = [];
  private done: Promise<void> = Promise.resolve();
  private disposing = false;

  constructor(
    private readonly url: string,
    private readonly n: number,
  ) {}

  async connect(): Promise<number> {
    const start = now();
    for (let first = 0; first < this.n; first += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, this.n - first) }, (_, k) => this.open(first + k));
      await Promise.all(batch);
    }
    return now() - start;
  }

  private open(index: number): Promise<void> {
    const record: ClientRecord = {
      index,
      snapshot: null,
      keys: [],
      at: [],
      totalSteps: null,
      completed: false,
      errors: [],
      closes: [],
    };
    this.records[index] = record;
    return new Promise((resolve, reject) => {
      this.clients[index] = createClient({
        url: this.url.replace(/^http/, 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: (error) => {
          if (this.disposing) return;
          record.errors.push(`connection: ${describe(error)}`);
          reject(new Error(`client ${index}: ${describe(error)}`));
        },
        on: {
          connected: () => resolve(),
          closed: (event) => {
            if (!this.disposing) record.closes.push(describe(event));
          },
          error: (error) => {
            if (!this.disposing) record.errors.push(`socket: ${describe(error)}`);
          },
        },
      });
    });
  }

  subscribe(runId: string, timeoutMs: number): Promise<number> {
    const start = now();
    let snapshots = 0;
    let ended = 0;
    let allSnapshots!: () => void;
    let failed!: (error: Error) => void;
    const snapshotted = new Promise<void>((resolve, reject) => {
      allSnapshots = resolve;
      failed = reject;
    });
    let allEnded!: () => void;
    this.done = new Promise<void>((resolve) => (allEnded = resolve));
    if (this.n === 0) {
      allSnapshots();
      allEnded();
    }
    const endOne = () => {
      if (++ended === this.n) allEnded();
    };
    for (const [index, client] of this.clients.entries()) {
      const record = this.records[index]!;
      client.subscribe<{ runEvents: EventData }>(
        { query: SUBSCRIPTION, variables: { runId } },
        {
          next: (result) => {
            const at = now();
            if (result.errors?.length) record.errors.push(`result: ${result.errors.map((e) => e.message).join('; ')}`);
            const event = result.data?.runEvents;
            if (!event) return;
            switch (event.__typename) {
              case 'RunSnapshot':
                if (record.snapshot) record.errors.push('second snapshot');
                record.snapshot = {
                  status: event.status,
                  lastStep: event.lastStep?.step ?? null,
                  queuePosition: event.queuePosition,
                  at,
                };
                if (++snapshots === this.n) allSnapshots();
                return;
              case 'RunStatusChanged':
                record.keys.push(`status:${event.status}`);
                break;
              case 'RunStepAdded':
                record.keys.push(`step:${event.step.step}`);
                record.totalSteps = event.totalSteps;
                break;
              case 'RunPreviewAdded':
                record.keys.push(`preview:${event.preview.step}`);
                if (!event.dataUrl.startsWith('data:image/'))
                  record.errors.push(`preview ${event.preview.step}: no data URL`);
                break;
              case 'RunEnded':
                record.keys.push(`end:${event.status}`);
                break;
            }
            record.at.push(at);
          },
          error: (error) => {
            record.errors.push(`subscription: ${describe(error)}`);
            if (!record.snapshot) failed(new Error(`client ${index} failed before its snapshot: ${describe(error)}`));
            endOne();
          },
          complete: () => {
            record.completed = true;
            if (!record.snapshot) failed(new Error(`client ${index} completed before its snapshot`));
            endOne();
          },
        },
      );
    }
    return withTimeout(snapshotted, timeoutMs, `snapshots (${snapshots} of ${this.n})`).then(() => now() - start);
  }

  async finished(timeoutMs: number): Promise<ClientRecord[]> {
    await withTimeout(this.done, timeoutMs, 'subscriptions to complete').catch((error: unknown) => {
      for (const record of this.records) if (!record.completed) record.errors.push(describe(error));
    });
    return this.records;
  }

  utilization(): EventLoopUtilization | null {
    return null;
  }

  async close(): Promise<void> {
    this.disposing = true;
    await Promise.all(this.clients.map((client) => Promise.resolve(client.dispose())));
  }
}

type Call =
  | { op: 'connect' }
  | { op: 'subscribe'; runId: string; timeoutMs: number }
  | { op: 'finished'; timeoutMs: number }
  | { op: 'close' };
type Request = Call & { id: number };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** The same pool in a worker thread, driven by messages. */
class WorkerClients implements Clients {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(url: string, n: number) {
    this.worker = new Worker(WORKER_BOOTSTRAP, {
      argv: [import.meta.url],
      workerData: { role: 'bench-clients', url, n },
    });
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.value);
      else waiter?.reject(new Error(reply.error));
    });
    const fail = (error: Error) => {
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`client worker exited with code ${code}`)));
  }

  private call<T>(request: Call): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  connect(): Promise<number> {
    return this.call({ op: 'connect' });
  }
  subscribe(runId: string, timeoutMs: number): Promise<number> {
    return this.call({ op: 'subscribe', runId, timeoutMs });
  }
  finished(timeoutMs: number): Promise<ClientRecord[]> {
    return this.call({ op: 'finished', timeoutMs });
  }
  utilization(previous?: EventLoopUtilization): EventLoopUtilization {
    return previous
      ? this.worker.performance.eventLoopUtilization(previous)
      : this.worker.performance.eventLoopUtilization();
  }
  async close(): Promise<void> {
    await this.call({ op: 'close' }).catch(() => {});
    await this.worker.terminate();
  }
}

function serveClients(port: NonNullable<typeof parentPort>, data: { url: string; n: number }): void {
  const pool = new ClientPool(data.url, data.n);
  port.on('message', (request: Request) => {
    const answer = (async (): Promise<unknown> => {
      switch (request.op) {
        case 'connect':
          return pool.connect();
        case 'subscribe':
          return pool.subscribe(request.runId, request.timeoutMs);
        case 'finished':
          return pool.finished(request.timeoutMs);
        case 'close':
          return pool.close();
      }
    })();
    answer.then(
      (value) => port.postMessage({ id: request.id, ok: true, value } satisfies Reply),
      (error: unknown) => port.postMessage({ id: request.id, ok: false, error: describe(error) } satisfies Reply),
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// GraphQL over HTTP

interface Upload {
  /** Where the file goes in the variables, e.g. variables.input.image. */
  path: string;
  file: string;
}

async function graphql<T>(url: string, query: string, variables: Record<string, unknown>, upload?: Upload): Promise<T> {
  let response: Response;
  if (upload) {
    // GraphQL multipart request: operations (the file's place null), map (file field → places), then the file.
    const form = new FormData();
    form.append('operations', JSON.stringify({ query, variables }));
    form.append('map', JSON.stringify({ 0: [upload.path] }));
    form.append('0', new Blob([await readFile(upload.file)], { type: 'image/jpeg' }), path.basename(upload.file));
    // The server refuses a multipart request without this header (CSRF prevention).
    response = await fetch(`${url}/graphql`, {
      method: 'POST',
      body: form,
      headers: { 'graphql-require-preflight': '1' },
    });
  } else {
    response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
  }
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data)
    throw new Error(`GraphQL (HTTP ${response.status}): ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
  return body.data;
}

type Result<T> = (T & { __typename: string }) | { __typename: string; code: string; message: string };

function unwrap<T>(result: Result<T>, typename: string): T {
  if (result.__typename !== typename) {
    const error = result as { code?: string; message?: string };
    throw new Error(`${result.__typename}: ${error.code ?? ''} ${error.message ?? ''}`);
  }
  return result as T;
}

async function uploadStyle(url: string): Promise<string> {
  const data = await graphql<{ uploadStyle: Result<{ id: string }> }>(
    url,
    `
      mutation ($input: UploadStyleInput!) {
        uploadStyle(input: $input) {
          __typename
          ... on Style {
            id
            name
          }
          ... on Error {
            code
            message
          }
        }
      }
    `,
    { input: { name: `the_scream ${randomUUID().slice(0, 8)}`, image: null, tags: ['bench'] } },
    { path: 'variables.input.image', file: STYLE },
  );
  return unwrap(data.uploadStyle, 'Style').id;
}

interface StartedRun {
  id: string;
  status: string;
  queuePosition: number | null;
}

async function startRun(url: string, styleId: string, params: Record<string, number>): Promise<StartedRun> {
  const data = await graphql<{ startTransfer: Result<StartedRun> }>(
    url,
    `
      mutation ($input: StartTransferInput!) {
        startTransfer(input: $input) {
          __typename
          ... on Run {
            id
            status
            queuePosition
          }
          ... on Error {
            code
            message
          }
        }
      }
    `,
    { input: { content: null, styles: [{ styleId, weight: 1 }], params } },
    { path: 'variables.input.content', file: CONTENT },
  );
  return unwrap(data.startTransfer, 'Run');
}

async function cancelRun(url: string, id: string): Promise<string> {
  const data = await graphql<{ cancelRun: Result<{ status: string }> }>(
    url,
    `
      mutation ($id: ID!) {
        cancelRun(id: $id) {
          __typename
          ... on Run {
            status
          }
          ... on Error {
            code
            message
          }
        }
      }
    `,
    { id },
  );
  return unwrap(data.cancelRun, 'Run').status;
}

interface RunState {
  status: string;
  lastStep: number;
  totalSteps: number;
  width: number | null;
  height: number | null;
  error: { code: string; message: string } | null;
}

async function queryRun(url: string, id: string): Promise<RunState> {
  const data = await graphql<{ run: RunState | null }>(
    url,
    `
      query ($id: ID!) {
        run(id: $id) {
          status
          lastStep
          totalSteps
          width
          height
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
// What the server published

interface Published {
  runId: string;
  key: string;
  at: number;
  /** The engine's wall time of the step (step events only). */
  stepMs?: number;
}

/** Wraps services.topics.publish (in this bench only) to note when each run event was published. */
class PublishLog {
  readonly events: Published[] = [];
  private readonly waiters: { test: (e: Published) => boolean; resolve: (e: Published) => void }[] = [];

  constructor(server: GramianServer) {
    const topics = server.services.topics;
    const publish = topics.publish.bind(topics) as (...args: unknown[]) => void;
    topics.publish = (topic: string, ...args: unknown[]) => {
      if (topic === 'run') this.note(args[1] as RunEvent);
      publish(topic, ...args);
    };
  }

  private note(event: RunEvent): void {
    const at = now();
    const key =
      event.kind === 'status'
        ? `status:${event.status}`
        : event.kind === 'step'
          ? `step:${event.step.step}`
          : event.kind === 'preview'
            ? `preview:${event.step}`
            : event.kind === 'download'
              ? 'download'
              : `end:${event.status}`;
    const published: Published = {
      runId: event.runId,
      key,
      at,
      ...(event.kind === 'step' ? { stepMs: event.step.ms } : {}),
    };
    this.events.push(published);
    for (const waiter of [...this.waiters]) {
      if (waiter.test(published)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(published);
      }
    }
  }

  /** The first matching event from now on (or already published, when `past`). */
  when(test: (e: Published) => boolean, past = true): Promise<Published> {
    const seen = past ? this.events.find(test) : undefined;
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  of(runId: string, since = -Infinity): Published[] {
    return this.events.filter((e) => e.runId === runId && e.at >= since);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics

interface Spread {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN;
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? NaN),
    mean: round(mean),
  };
}

function round(value: number, digits = 2): number {
  return Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
}

// ---------------------------------------------------------------------------------------------------------------
// One round

interface RoundResult {
  subscribers: number;
  runId: string;
  totalSteps: number;
  runStatus: string;
  runWallMs: number;
  connectMs: number;
  subscribeMs: number;
  /** Events every client had to get after subscribing (the snapshot not counted). */
  expectedPerClient: number;
  expectedKeys: string[];
  /** Per client, snapshot included. */
  eventsPerClient: { min: number; max: number };
  delivered: number;
  expected: number;
  missing: number;
  duplicates: number;
  /** Clients that missed, repeated, reordered or failed anything. */
  problemClients: number;
  problems: string[];
  latencyMs: { step: Spread; preview: Spread; end: Spread };
  /** Per step event: publish to receipt by the last client. */
  fanOutMs: Spread;
  stepMs: Spread & { median: number; all: number[] };
  eventLoopDelayMs: { p50: number; p99: number; max: number; mean: number };
  /** Busy fraction of the main thread's event loop during the run, and of the clients' worker thread. */
  eventLoopUtilization: { main: number; clients: number | null };
  /** Events published for the run before every client had its snapshot (should be none). */
  publishedBeforeSubscribed: string[];
}

interface Options {
  subscribers: number[];
  size: number;
  steps: number;
  previewEvery: number;
  inlineClients: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      subscribers: { type: 'string' },
      size: { type: 'string' },
      steps: { type: 'string' },
      'preview-every': { type: 'string' },
      'inline-clients': { type: 'boolean' },
    },
  });
  const int = (raw: string | undefined, fallback: number, name: string, min: number): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${raw}`);
    return value;
  };
  const subscribers =
    values.subscribers === undefined
      ? DEFAULT_SUBSCRIBERS
      : values.subscribers.split(',').map((s) => int(s.trim(), 0, 'subscribers', 0));
  return {
    subscribers,
    size: int(values.size, 48, 'size', 32),
    steps: int(values.steps, DEFAULT_STEPS, 'steps', 1),
    previewEvery: int(values['preview-every'], 10, 'preview-every', 0),
    inlineClients: values['inline-clients'] ?? false,
  };
}

const progress = (message: string) => console.error(`[bench] ${message}`);

async function runRound(
  server: GramianServer,
  published: PublishLog,
  styleId: string,
  n: number,
  options: Options,
): Promise<RoundResult> {
  const { url } = server;
  const params = { size: options.size, steps: options.steps, previewEvery: options.previewEvery };
  const clients: Clients = options.inlineClients ? new ClientPool(url, n) : new WorkerClients(url, n);
  try {
    const connectMs = await withTimeout(clients.connect(), 120_000, `connecting ${n} clients`);
    progress(`N=${n}: ${n} clients connected in ${connectMs.toFixed(0)} ms`);

    const gate = await startRun(url, styleId, GATE_PARAMS);
    const run = await startRun(url, styleId, params);
    if (run.status !== 'QUEUED')
      throw new Error(`the measured run is ${run.status}, not QUEUED behind the gate run (is GRAMIAN_WORKERS 1?)`);
    const queuedAt = now();

    const subscribeMs = await clients.subscribe(run.id, 120_000);
    const subscribedAt = now();
    progress(`N=${n}: every client has its snapshot (${subscribeMs.toFixed(0)} ms)`);
    const measured = decodeGlobalID(run.id).id;
    const publishedBeforeSubscribed = published
      .of(measured, queuedAt)
      .filter((e) => e.at < subscribedAt)
      .map((e) => e.key);

    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let mainElu = performance.eventLoopUtilization();
    let clientsElu = clients.utilization();
    const running = published
      .when((e) => e.runId === measured && e.key === 'status:RUNNING', false)
      .then((e) => {
        histogram.reset();
        mainElu = performance.eventLoopUtilization();
        clientsElu = clients.utilization();
        return e.at;
      });
    const ended = published.when((e) => e.runId === measured && e.key.startsWith('end:'), false);
    histogram.enable();
    const gateStatus = await cancelRun(url, gate.id);
    if (gateStatus !== 'CANCELED') progress(`N=${n}: the gate run ended ${gateStatus}, not CANCELED`);

    const runTimeout = 60_000 + options.steps * 5_000;
    const startedAt = await withTimeout(running, runTimeout, 'the measured run to start');
    progress(`N=${n}: run started`);
    const end = await withTimeout(ended, runTimeout, 'the measured run to end');
    const records = await clients.finished(60_000);
    histogram.disable();
    const mainUtilization = performance.eventLoopUtilization(mainElu).utilization;
    const clientsUtilization = clientsElu ? (clients.utilization(clientsElu)?.utilization ?? NaN) : NaN;
    const state = await queryRun(url, run.id);
    progress(
      `N=${n}: run ${state.status} in ${(end.at - startedAt).toFixed(0)} ms; ` +
        `all subscriptions done ${(now() - end.at).toFixed(0)} ms after the end`,
    );

    // What every client had to get: everything published for the run after the last snapshot.
    const expectedEvents = published.of(measured, subscribedAt);
    const expectedKeys = expectedEvents.map((e) => e.key);
    const publishedAt = new Map(expectedEvents.map((e) => [e.key, e.at]));
    const stepKeys = expectedKeys.filter((k) => k.startsWith('step:'));
    const totalSteps = state.totalSteps;
    const wantSteps = Array.from({ length: totalSteps }, (_, i) => `step:${i + 1}`);
    const problems: string[] = [];
    if (stepKeys.join() !== wantSteps.join())
      problems.push(
        `server published steps ${stepKeys.length} (${stepKeys.slice(0, 3).join(',')}…), ` +
          `expected 1..${totalSteps} once each`,
      );

    let delivered = 0;
    let duplicates = 0;
    let problemClients = 0;
    const perClient: number[] = [];
    const latency = { step: [] as number[], preview: [] as number[], end: [] as number[] };
    const lastReceipt = new Map<string, number>();
    for (const record of records) {
      const issues: string[] = [];
      const seen = new Set<string>();
      for (const [i, key] of record.keys.entries()) {
        if (seen.has(key)) duplicates++;
        seen.add(key);
        const sent = publishedAt.get(key);
        if (sent === undefined) continue;
        const lag = record.at[i]! - sent;
        const kind = key.slice(0, key.indexOf(':'));
        if (kind === 'step' || kind === 'preview' || kind === 'end') latency[kind].push(lag);
        if (kind === 'step') lastReceipt.set(key, Math.max(lastReceipt.get(key) ?? -Infinity, lag));
      }
      const got = expectedKeys.filter((k) => seen.has(k)).length;
      delivered += got;
      perClient.push(record.keys.length + (record.snapshot ? 1 : 0));
      const steps = record.keys.filter((k) => k.startsWith('step:'));
      if (!record.snapshot) issues.push('no snapshot');
      else if (record.snapshot.lastStep !== null && record.snapshot.lastStep > 0)
        issues.push(`subscribed late (snapshot at step ${record.snapshot.lastStep})`);
      if (got < expectedKeys.length)
        issues.push(
          `missed ${expectedKeys
            .filter((k) => !seen.has(k))
            .slice(0, 5)
            .join(', ')}${expectedKeys.length - got > 5 ? ` and ${expectedKeys.length - got - 5} more` : ''}`,
        );
      if (steps.join() !== wantSteps.join())
        issues.push(`steps not exactly 1..${totalSteps} in order (${steps.length} received)`);
      if (record.keys.join() !== expectedKeys.join() && got === expectedKeys.length)
        issues.push('events out of publish order or extra events');
      if (!record.completed) issues.push('subscription did not complete');
      if (!record.keys.at(-1)?.startsWith('end:')) issues.push('the end was not the last event');
      if (record.errors.length) issues.push(`errors: ${record.errors.slice(0, 3).join(' | ')}`);
      if (record.closes.length) issues.push(`closed: ${record.closes.join(', ')}`);
      if (issues.length) {
        problemClients++;
        if (problems.length < 20) problems.push(`client ${record.index}: ${issues.join('; ')}`);
      }
    }

    const stepMs = published.of(measured).flatMap((e) => (e.stepMs === undefined ? [] : [e.stepMs]));
    const stepSpread = spread(stepMs);
    const ns = (value: number) => round(value / 1e6);
    return {
      subscribers: n,
      runId: run.id,
      totalSteps,
      runStatus: state.status,
      runWallMs: round(end.at - startedAt, 0),
      connectMs: round(connectMs, 0),
      subscribeMs: round(subscribeMs, 0),
      expectedPerClient: expectedKeys.length,
      expectedKeys,
      eventsPerClient: { min: Math.min(...perClient, Infinity), max: Math.max(...perClient, -Infinity) },
      delivered,
      expected: expectedKeys.length * n,
      missing: expectedKeys.length * n - delivered,
      duplicates,
      problemClients,
      problems,
      latencyMs: { step: spread(latency.step), preview: spread(latency.preview), end: spread(latency.end) },
      fanOutMs: spread([...lastReceipt.values()]),
      stepMs: { ...stepSpread, median: stepSpread.p50, all: stepMs.map((ms) => round(ms, 1)) },
      eventLoopDelayMs: {
        p50: ns(histogram.percentile(50)),
        p99: ns(histogram.percentile(99)),
        max: ns(histogram.max),
        mean: ns(histogram.mean),
      },
      eventLoopUtilization: {
        main: round(mainUtilization, 3),
        clients: Number.isNaN(clientsUtilization) ? null : round(clientsUtilization, 3),
      },
      publishedBeforeSubscribed,
    };
  } finally {
    await clients.close().catch((error: unknown) => progress(`closing the clients: ${describe(error)}`));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main

function table(rounds: RoundResult[]): string {
  const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
  const lines = [
    '| N | events per client | delivered / expected | missing | latency p50 / p99 / max (ms) | step ms (median) | ' +
      'event-loop delay p99 / max (ms) |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rounds) {
    const events =
      r.subscribers === 0
        ? '–'
        : r.eventsPerClient.min === r.eventsPerClient.max
          ? `${r.eventsPerClient.min}`
          : `${r.eventsPerClient.min}–${r.eventsPerClient.max}`;
    const l = r.latencyMs.step;
    lines.push(
      `| ${r.subscribers} | ${events} | ${r.delivered} / ${r.expected} | ${r.missing} | ` +
        `${fmt(l.p50)} / ${fmt(l.p99)} / ${fmt(l.max)} | ${fmt(r.stepMs.median)} | ` +
        `${fmt(r.eventLoopDelayMs.p99)} / ${fmt(r.eventLoopDelayMs.max)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const loadAtStart = os.loadavg().map((l) => round(l));
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-bench-server-'));
  // The server's log, condensed: stack frames dropped, repeats counted, only the first few echoed live (printing
  // thousands of stack traces would cost the main thread more than what is being measured).
  const serverLog = new Map<string, number>();
  const log = (message: string) => {
    const condensed = message
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('at ') && !/^(→\s*)?\d+\s/.test(line))
      .join(' ')
      .slice(0, 400);
    const count = (serverLog.get(condensed) ?? 0) + 1;
    serverLog.set(condensed, count);
    if (count <= 2)
      console.error(`[gramian] ${count === 2 ? '(again, further repeats counted silently) ' : ''}${condensed}`);
  };
  const warnings: string[] = [];
  process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`));
  let server: GramianServer | undefined;
  let exitCode = 0;
  try {
    const config = loadConfig({
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      GRAMIAN_WEIGHTS: WEIGHTS,
      GRAMIAN_WEIGHTS_DOWNLOAD: 'false',
      // One run at a time, so the gate run can hold the measured one in the queue.
      GRAMIAN_WORKERS: '1',
    });
    progress(`starting the server (data in ${dataDir})`);
    server = await startServer(config, log);
    const published = new PublishLog(server);
    progress(
      `server at ${server.url}; backend ${server.services.engineInfo.backend}, ` +
        `${server.services.engineInfo.threads ?? '?'} threads`,
    );
    const styleId = await uploadStyle(server.url);

    // Warm-up: weights, kernels and the style's Gram matrices, so the first round's steps are not slower.
    const warmup = await startRun(server.url, styleId, { size: options.size, steps: WARMUP_STEPS, previewEvery: 0 });
    const warmupId = decodeGlobalID(warmup.id).id;
    const warmupEnd = await withTimeout(
      published.when((e) => e.runId === warmupId && e.key.startsWith('end:')),
      300_000,
      'the warm-up run',
    );
    progress(`warm-up run ${warmup.id} ${warmupEnd.key}`);

    const rounds: RoundResult[] = [];
    for (const n of options.subscribers) {
      progress(`round N=${n}`);
      rounds.push(await runRound(server, published, styleId, n, options));
    }

    const output = table(rounds);
    console.log(
      `\nSubscription fan-out: ${options.size} px, ${options.steps} steps, a preview every ${options.previewEvery}, ` +
        `clients ${options.inlineClients ? 'on the main thread' : 'in a worker thread'}, ` +
        `load average at start ${loadAtStart.join(' ')}; ` +
        'latency is publish → receipt of step events over all (client, step) pairs\n',
    );
    console.log(output);
    for (const r of rounds) {
      const extra = [
        `N=${r.subscribers}: run ${r.runStatus}, ${r.totalSteps} steps in ${(r.runWallMs / 1000).toFixed(1)} s`,
        `connect ${r.connectMs} ms, subscribe ${r.subscribeMs} ms`,
        `event loop busy ${Math.round(r.eventLoopUtilization.main * 100)} % (main)` +
          (r.eventLoopUtilization.clients === null
            ? ''
            : `, ${Math.round(r.eventLoopUtilization.clients * 100)} % (client worker)`),
        ...(r.subscribers > 0
          ? [
              `fan-out to the last client p50 ${r.fanOutMs.p50} / max ${r.fanOutMs.max} ms`,
              `preview latency p50 ${r.latencyMs.preview.p50} / max ${r.latencyMs.preview.max} ms, ` +
                `end p50 ${r.latencyMs.end.p50} / max ${r.latencyMs.end.max} ms`,
              `${r.problemClients} clients with problems${r.duplicates ? `, ${r.duplicates} duplicates` : ''}`,
            ]
          : []),
      ];
      console.log(`\n- ${extra.join('; ')}`);
      for (const problem of r.problems) console.log(`  - ${problem}`);
      if (r.publishedBeforeSubscribed.length)
        console.log(`  - published before every client had its snapshot: ${r.publishedBeforeSubscribed.join(', ')}`);
    }
    for (const warning of warnings) console.log(`\nProcess warning: ${warning}`);
    if (serverLog.size) {
      console.log('\nServer log:');
      for (const [message, count] of serverLog) console.log(`- ${count} × ${message}`);
    }

    const info = server.services.engineInfo;
    await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
    await writeFile(
      RESULTS_FILE,
      JSON.stringify(
        {
          ...machineInfo(loadAtStart),
          loadAverageAtEnd: os.loadavg().map((l) => round(l)),
          engine: {
            backend: info.backend,
            tfBackend: info.tfBackend,
            threads: info.threads,
            simd: info.simd,
            workers: info.workers,
          },
          weights: path.relative(REPO_ROOT, WEIGHTS),
          images: { content: path.relative(REPO_ROOT, CONTENT), style: path.relative(REPO_ROOT, STYLE) },
          params: { size: options.size, steps: options.steps, previewEvery: options.previewEvery },
          clients: options.inlineClients ? 'main thread' : 'worker thread',
          gate: GATE_PARAMS,
          rounds,
          serverLog: [...serverLog].map(([message, count]) => ({ count, message })),
          warnings,
        },
        null,
        2,
      ) + '\n',
    );
    progress(`wrote ${path.relative(process.cwd(), RESULTS_FILE)}`);
  } catch (error) {
    exitCode = 1;
    console.error(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    if (server)
      await withTimeout(server.close(), 60_000, 'closing the server').catch((error: unknown) =>
        progress(describe(error)),
      );
    await rm(dataDir, { recursive: true, force: true }).catch(() => {});
  }
  // The wasm backend's worker threads keep the process alive.
  process.exit(exitCode);
}

if (isMainThread) {
  await main();
} else if ((workerData as { role?: string } | null)?.role === 'bench-clients') {
  serveClients(parentPort!, workerData as { url: string; n: number });
}
