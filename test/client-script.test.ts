// The batch script (client-example/scripts/batch.ts) as a user runs it: a child process against a real server, with
// a presets file, style images and content images, downloading decodable results; presets created then updated;
// typed errors reported with their field and a non-zero exit code.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerKey, gql, startTestServer, type TestServer } from './helpers/server.js';
import { REPO_ROOT, contentImage, styleImage } from './helpers/shared.js';

let server: TestServer;
let dir: string;

const GATYS = { name: 'Script tiny', engine: 'GATYS', params: { size: 40, steps: 3, previewEvery: 0 } };
const FAST = { name: 'Script mosaic', engine: 'FAST', fastParams: { styleModel: 'mosaic', size: 64 } };

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-batch-'));
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function batch(...args: string[]): Promise<Exit> {
  return batchAgainst(server, {}, ...args);
}

function batchAgainst(target: TestServer, env: Record<string, string>, ...args: string[]): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'client-example/scripts/batch.ts', '--server', target.url, ...args],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function writePresets(name: string, presets: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(presets, null, 2));
  return file;
}

async function serverPresets(): Promise<
  {
    name: string;
    createdAt: string;
    updatedAt: string;
    params: { steps: number | null } | null;
    fastParams: { size: number | null } | null;
  }[]
> {
  return (await gql(server.url, `{ presets { name createdAt updatedAt params { steps } fastParams { size } } }`)).data!
    .presets;
}

/** Every file of a folder with its decoded size. */
async function images(folder: string): Promise<{ file: string; width?: number; height?: number; format?: string }[]> {
  const files = (await readdir(folder)).sort();
  return Promise.all(
    files.map(async (file) => {
      const { width, height, format } = await sharp(path.join(folder, file)).metadata();
      return { file, width, height, format };
    }),
  );
}

describe('batch script', () => {
  it('creates the presets, uploads the style and stylises each content image with a GATYS preset', async () => {
    const presets = await writePresets('presets.json', [GATYS, FAST]);
    const out = path.join(dir, 'out-gatys');
    const run = await batch(
      '--presets',
      presets,
      '--preset',
      GATYS.name,
      '--style',
      styleImage('the_scream.jpg'),
      '--out',
      out,
      contentImage('amber.jpg'),
      contentImage('tubingen.jpg'),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`preset "${GATYS.name}" (GATYS): created`);
    expect(run.stdout).toContain(`preset "${FAST.name}" (FAST): created`);
    expect(run.stdout).toContain('2 succeeded, 0 failed, 0 canceled');
    // Not a terminal: plain progress lines, down to the end of each run.
    expect(run.stderr).toMatch(/amber\.jpg: succeeded step 3\/3 loss \d/);
    const results = await images(out);
    expect(results.map((r) => r.file)).toEqual(['amber-script-tiny.png', 'tubingen-script-tiny.png']);
    for (const r of results) expect(Math.max(r.width!, r.height!)).toBe(40);
    const styles = (await gql(server.url, `{ styles { name } }`)).data!.styles;
    expect(styles).toEqual([{ name: 'the_scream' }]);
  });

  it('updates presets on a second run instead of duplicating them, and runs a FAST preset over a folder', async () => {
    const before = await serverPresets();
    const presets = await writePresets('presets-2.json', [{ ...GATYS, params: { ...GATYS.params, steps: 2 } }, FAST]);
    const content = path.join(dir, 'content');
    const out = path.join(dir, 'out-fast');
    await mkdir(content);
    await copyFile(contentImage('amber.jpg'), path.join(content, 'amber.jpg'));
    await copyFile(contentImage('golden_gate.jpg'), path.join(content, 'golden_gate.jpg'));
    await writeFile(path.join(content, 'notes.txt'), 'not an image, not picked up');
    const run = await batch('--presets', presets, '--preset', FAST.name, '--content-dir', content, '--out', out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`preset "${GATYS.name}" (GATYS): updated`);
    expect(run.stdout).toContain(`preset "${FAST.name}" (FAST): updated`);
    const results = await images(out);
    expect(results.map((r) => r.file)).toEqual(['amber-script-mosaic.png', 'golden_gate-script-mosaic.png']);
    for (const r of results) expect(Math.max(r.width!, r.height!)).toBe(64);

    const after = await serverPresets();
    expect(after).toHaveLength(before.length);
    for (const name of [GATYS.name, FAST.name]) {
      const was = before.filter((p) => p.name === name);
      const now = after.filter((p) => p.name === name);
      expect(now).toHaveLength(1);
      expect(now[0]!.createdAt).toBe(was[0]!.createdAt);
      expect(Date.parse(now[0]!.updatedAt)).toBeGreaterThan(Date.parse(was[0]!.updatedAt));
    }
    expect(after.find((p) => p.name === GATYS.name)!.params!.steps).toBe(2);
    expect(after.find((p) => p.name === FAST.name)!.fastParams!.size).toBe(64);
  });

  it('refuses a bad presets file with the typed error and its field, exit code 2, creating nothing', async () => {
    const presets = await writePresets('bad.json', [{ name: 'Script bad', params: { size: 40, styleWeight: -1 } }]);
    const run = await batch(
      '--presets',
      presets,
      '--preset',
      'Script bad',
      '--style',
      'the_scream',
      '--out',
      path.join(dir, 'out-bad'),
      contentImage('amber.jpg'),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('preset "Script bad": INVALID_INPUT params.styleWeight');
    expect((await serverPresets()).some((p) => p.name === 'Script bad')).toBe(false);
  });

  it('reports a run the server refuses with its code and field, and exits 1', async () => {
    const run = await batch(
      '--preset',
      FAST.name,
      '--set',
      'size=5000',
      '--out',
      path.join(dir, 'out-refused'),
      contentImage('amber.jpg'),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('✗ amber.jpg: FAILED INVALID_INPUT: fastParams.size');
    expect(run.stdout).toContain('0 succeeded, 1 failed, 0 canceled');
  });

  it('sends its API key (--key or GRAMIAN_API_KEY) to a server that requires one, and runs as its owner', async () => {
    const guarded = await startTestServer({ GRAMIAN_AUTH: 'keys' });
    try {
      const key = (await bearerKey(guarded, 'carol', ['run', 'manage'])).slice('Bearer '.length);
      const presets = await writePresets('keyed.json', [FAST]);
      const out = path.join(dir, 'out-keyed');
      const refused = await batchAgainst(guarded, {}, '--presets', presets, '--out', out, contentImage('amber.jpg'));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('UNAUTHENTICATED');
      const keyed = await batchAgainst(
        guarded,
        { GRAMIAN_API_KEY: key },
        '--presets',
        presets,
        '--out',
        out,
        contentImage('amber.jpg'),
      );
      expect(keyed.code, keyed.stderr).toBe(0);
      expect(keyed.stdout).toContain('1 succeeded, 0 failed, 0 canceled');
      expect(await guarded.services.db.run.findMany({ select: { owner: true, status: true } })).toEqual([
        { owner: 'carol', status: 'SUCCEEDED' },
      ]);
      expect((await images(out)).map((image) => image.format)).toEqual(['png']);
    } finally {
      await guarded.stop();
    }
  });
});
