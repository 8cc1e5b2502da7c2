// Restarts of a real server process on the same data folder: after a kill every run is in a true state (the
// running one resumes from its last periodic checkpoint, recomputing the steps after it, and the queued one runs);
// after a graceful stop the running run resumes from its checkpoint and finishes with every step once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/cluster-nodes.js';
import { START_TRANSFER, UPLOAD_STYLE, gql, gqlUpload, testEnv, until } from './helpers/server.js';
import { REPO_ROOT, contentImage, readShared, styleImage } from './helpers/shared.js';

let dataDir: string;
let port: number;
let url: string;
let child: ChildProcess | undefined;

/** Starts `node src/main.ts` and resolves once it listens. */
async function startProcess(): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...testEnv(dataDir, { PORT: String(port), CHECKPOINT_EVERY: '5' }) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('GraphQL and GraphiQL at')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${log}`)));
  });
  return proc;
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) =>
    proc.exitCode !== null ? resolve(proc.exitCode) : proc.once('exit', (code) => resolve(code)),
  );
}

const RUN = /* GraphQL */ `
  query ($id: ID!) {
    run(id: $id) {
      status
      lastStep
      totalSteps
      error {
        code
        message
      }
      steps {
        step
        totalLoss
      }
    }
  }
`;

async function runState(id: string) {
  return (await gql(url, RUN, { id })).data!.run as {
    status: string;
    lastStep: number;
    totalSteps: number;
    error: { code: string; message: string } | null;
    steps: { step: number; totalLoss: number }[];
  };
}

/** A run as the database file has it (while no server holds it), with its stored steps. */
function readRun(id: string) {
  const db = new Database(path.join(dataDir, 'gramian.db'), { readonly: true });
  try {
    const rowId = Buffer.from(id, 'base64').toString('utf8').split(':')[1];
    const run = db.prepare('SELECT status, checkpointStep FROM Run WHERE id = ?').get(rowId) as {
      status: string;
      checkpointStep: number | null;
    };
    const steps = db.prepare('SELECT step, totalLoss FROM RunStep WHERE runId = ? ORDER BY step').all(rowId) as {
      step: number;
      totalLoss: number;
    }[];
    return { ...run, steps };
  } finally {
    db.close();
  }
}

/** Checkpoint objects the database still lists. */
function checkpointsStored(): number {
  const db = new Database(path.join(dataDir, 'gramian.db'), { readonly: true });
  try {
    return (
      db.prepare('SELECT COUNT(*) AS n FROM Image WHERE mime = ?').get('application/x-gramian-checkpoint') as {
        n: number;
      }
    ).n;
  } finally {
    db.close();
  }
}

let styleId: string;
let contentImageId: string;

async function start(steps: number): Promise<string> {
  const response = await gql(url, START_TRANSFER, {
    input: { contentImageId, styles: [{ styleId }], params: { size: 64, steps, previewEvery: 0 } },
  });
  return response.data!.startTransfer.id;
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-restart-'));
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  child = await startProcess();
  const style = await gqlUpload(
    url,
    UPLOAD_STYLE,
    { input: { name: 'Udnie', image: null } },
    { 'input.image': { bytes: await readShared(styleImage('udnie.jpg')) } },
  );
  styleId = style.data!.uploadStyle.id;
  const first = await gqlUpload(
    url,
    START_TRANSFER,
    { input: { content: null, styles: [{ styleId }], params: { size: 40, steps: 1, previewEvery: 0 } } },
    {
      'input.content': { bytes: await readShared(contentImage('amber.jpg')) },
    },
  );
  await until(
    () => runState(first.data!.startTransfer.id),
    (r) => r.status === 'SUCCEEDED',
    'the first run',
  );
  contentImageId = (
    await gql(url, `query ($id: ID!) { run(id: $id) { content { id } } }`, { id: first.data!.startTransfer.id })
  ).data!.run.content.id;
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('restart', () => {
  it('after a kill: the running run resumes from its checkpoint, every step once; the queued one runs', async () => {
    const running = await start(30);
    const queued = await start(3);
    await until(
      () => runState(running),
      (r) => r.lastStep >= 7,
      'seven persisted steps (a checkpoint every 5)',
    );
    child!.kill('SIGKILL');
    await exited(child!);

    // What the killed server left: the run RUNNING with its steps and its last checkpoint, at step 5 or later.
    const beforeKill = readRun(running);
    expect(beforeKill.status).toBe('RUNNING');
    expect(beforeKill.checkpointStep).toBeGreaterThanOrEqual(5);
    expect(beforeKill.checkpointStep! % 5).toBe(0);
    const lossesBefore = new Map(beforeKill.steps.map((s) => [s.step, s.totalLoss]));

    child = await startProcess();
    const finished = await until(
      () => runState(running),
      (r) => r.status === 'SUCCEEDED',
      'the resumed run',
    );
    // Steps after the checkpoint were computed again and replace the old ones: no gap, no duplicate.
    expect(finished.steps.map((s) => s.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // The resumed run continues its curve: the first step after the checkpoint is the one the killed run computed
    // (image and optimiser state restored in full precision), not the jump a restart of the optimiser makes.
    const firstResumed = beforeKill.checkpointStep! + 1;
    const again = finished.steps.find((s) => s.step === firstResumed)!.totalLoss;
    if (lossesBefore.has(firstResumed)) {
      expect(Math.abs(again - lossesBefore.get(firstResumed)!) / lossesBefore.get(firstResumed)!).toBeLessThan(1e-3);
    }
    for (const step of finished.steps.filter((s) => s.step <= beforeKill.checkpointStep!))
      expect(step.totalLoss).toBe(lossesBefore.get(step.step));
    const done = await until(
      () => runState(queued),
      (r) => r.status === 'SUCCEEDED',
      'the queued run',
    );
    expect(done.steps.map((s) => s.step)).toEqual([1, 2, 3]);
    // Each checkpoint replaced the one before (tens of MB each at real sizes), and the last went with the result.
    expect(checkpointsStored()).toBe(0);
  });

  it('after a graceful stop: the running run checkpoints, resumes after restart, and has every step once', async () => {
    const run = await start(40);
    await until(
      () => runState(run),
      (r) => r.lastStep >= 3,
      'three persisted steps',
    );
    child!.kill('SIGTERM');
    expect(await exited(child!)).toBe(0);

    child = await startProcess();
    const finished = await until(
      () => runState(run),
      (r) => r.status === 'SUCCEEDED',
      'the resumed run',
    );
    expect(finished.steps.map((s) => s.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const { data } = await gql(url, `query ($id: ID!) { run(id: $id) { error { code } result { mime } } }`, {
      id: run,
    });
    expect(data!.run).toMatchObject({ error: null, result: { mime: 'image/png' } });
  });

  it('after a graceful stop during a fast pass: the run goes back to the queue, then runs after restart', async () => {
    const models = (await gql(url, `{ styleModels { id name } }`)).data!.styleModels as { id: string; name: string }[];
    const mosaic = models.find((m) => m.name === 'mosaic')!.id;
    // Large enough that the pass is still going when the stop arrives.
    const response = await gql(url, START_TRANSFER, {
      input: { contentImageId, styleModelId: mosaic, fastParams: { size: 1024 } },
    });
    const run = response.data!.startTransfer.id as string;
    await until(
      () => runState(run),
      (r) => r.status === 'RUNNING',
      'the fast run to start',
    );
    child!.kill('SIGTERM');
    expect(await exited(child!)).toBe(0);

    // What the stopped server left: the run waiting to start again, not FAILED or CANCELED.
    const db = new Database(path.join(dataDir, 'gramian.db'), { readonly: true });
    const rowId = Buffer.from(run, 'base64').toString('utf8').split(':')[1];
    const stored = db.prepare('SELECT status FROM Run WHERE id = ?').get(rowId) as { status: string } | undefined;
    db.close();
    expect(stored?.status).toBe('QUEUED');

    child = await startProcess();
    const finished = await until(
      () => runState(run),
      (r) => r.status === 'SUCCEEDED',
      'the fast run after the restart',
    );
    expect(finished).toMatchObject({ error: null, lastStep: 1 });
  });
});
