// The `gramian` command as scripts use it: real process, real files, exit codes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyApiKey } from '../src/auth/api-keys.js';
import { openDatabase } from '../src/storage/db.js';
import { REPO_ROOT, SHARED_MODELS, VGG19_UINT8, contentImage, styleImage } from './helpers/shared.js';

const run = promisify(execFile);
const BIN = path.join(REPO_ROOT, 'bin/gramian.js');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function gramian(args: string[], extraEnv: Record<string, string> = {}) {
  const env = {
    ...process.env,
    GRAMIAN_WEIGHTS: VGG19_UINT8,
    GRAMIAN_MODELS: SHARED_MODELS,
    GRAMIAN_CACHE: path.join(dir, 'cache'),
    ...extraEnv,
  };
  return run(process.execPath, [BIN, ...args], { env, cwd: REPO_ROOT }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('gramian CLI', () => {
  it('stylizes two blended styles into the requested file with loss lines and previews', async () => {
    const out = path.join(dir, 'out.jpg');
    const previews = path.join(dir, 'previews');
    const result = await gramian([
      'stylize',
      '--content',
      contentImage('tubingen.jpg'),
      '--style',
      styleImage('starry_night.jpg'),
      '--style',
      styleImage('the_scream.jpg'),
      '--style-weights',
      '0.7,0.3',
      '--size',
      '64',
      '--steps',
      '4',
      '--preserve-colors',
      '--preview-every',
      '2',
      '--preview-dir',
      previews,
      '--out',
      out,
    ]);
    expect(result.stderr).toMatch(/step 1\/4 content [\d.e+-]+ style [\d.e+-]+ tv [\d.e+-]+ total/);
    expect(result.code).toBe(0);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 64, 48]);
    expect((await sharp(path.join(previews, 'step-00002.jpg')).metadata()).format).toBe('jpeg');
  });

  it('stylizes with a pretrained model in one pass (--model)', async () => {
    const out = path.join(dir, 'mosaic.png');
    const result = await gramian([
      'stylize',
      '--model',
      'mosaic',
      '--content',
      contentImage('amber.jpg'),
      '--size',
      '200',
      '--out',
      out,
    ]);
    expect(result.stderr).toContain('one pass of mosaic');
    expect(result.code).toBe(0);
    const stats = await sharp(out).stats();
    expect(await sharp(out).metadata()).toMatchObject({ width: 200, height: 200 });
    expect(stats.channels.every((c) => c.stdev > 15)).toBe(true);
  });

  it('imports a model and then uses it by name', async () => {
    const imported = await gramian([
      'models',
      'import',
      path.join(SHARED_MODELS, 'fast-style-ml5/wave'),
      '--name',
      'my-wave',
    ]);
    expect(imported.code).toBe(0);
    const list = await gramian(['models']);
    expect(list.stdout).toMatch(/^my-wave\s+imported/m);
    expect(list.stdout).toMatch(/^scream\s+engstrom\s+The Scream/m);
    const out = path.join(dir, 'wave.jpg');
    expect(
      (
        await gramian([
          'stylize',
          '--model',
          'my-wave',
          '--content',
          contentImage('golden_gate.jpg'),
          '--size',
          '96',
          '--out',
          out,
        ])
      ).code,
    ).toBe(0);
    expect((await sharp(out).metadata()).format).toBe('jpeg');
  });

  it.each([
    [['stylize', '--content', 'x.jpg', '--out', 'o.png'], '--style'],
    [
      [
        'stylize',
        '--content',
        contentImage('amber.jpg'),
        '--model',
        'mosaic',
        '--style',
        styleImage('udnie.jpg'),
        '--out',
        'o.png',
      ],
      '--model',
    ],
    [['stylize', '--content', contentImage('amber.jpg'), '--model', 'no-such-model', '--out', 'o.png'], 'mosaic'],
    [
      ['stylize', '--content', contentImage('amber.jpg'), '--model', 'mosaic', '--strength', '3', '--out', 'o.png'],
      'strength',
    ],
    [
      [
        'stylize',
        '--content',
        contentImage('tubingen.jpg'),
        '--style',
        styleImage('udnie.jpg'),
        '--out',
        'o.png',
        '--size',
        '9999',
      ],
      'size',
    ],
    [
      [
        'stylize',
        '--content',
        contentImage('tubingen.jpg'),
        '--style',
        styleImage('udnie.jpg'),
        '--out',
        'o.png',
        '--style-layers',
        'relu6_1',
      ],
      'relu5_4',
    ],
    [['stylize', '--content', '/nonexistent.jpg', '--style', styleImage('udnie.jpg'), '--out', 'o.png'], 'cannot read'],
    [['stylize', '--bogus'], 'bogus'],
  ])('exits 2 with a message for %j', async (args, message) => {
    const result = await gramian(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('reports the backend and threads with `info`', async () => {
    const result = await gramian(['info']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ tfjsVersion: '4.22.0', workers: 1 });
  });
});

// WebGPU from the command line, on this machine's software adapter (Mesa's llvmpipe through Vulkan; see
// test/engine-webgpu.test.ts for the engine's parity tests and their tolerances). Skipped, with a warning, where no
// adapter is found, except in CI (.ci/run sets GRAMIAN_REQUIRE_WEBGPU=1), where that fails.
describe('gramian on WebGPU', () => {
  const required = process.env.GRAMIAN_REQUIRE_WEBGPU === '1';

  /** The total losses of the step lines the CLI prints (step 1, every 10th, the last), by step. */
  function totals(stderr: string): Map<number, number> {
    const lines = [...stderr.matchAll(/step (\d+)\/\d+ content \S+ style \S+ tv \S+ total (\S+)/g)];
    return new Map(lines.map((m) => [Number(m[1]), Number(m[2])]));
  }

  it('`GRAMIAN_BACKEND=webgpu gramian info` reports the software adapter', async (context) => {
    const result = await gramian(['info'], { GRAMIAN_BACKEND: 'webgpu' });
    if (result.code !== 0 && !required && /no WebGPU adapter/.test(result.stderr)) {
      console.warn(`gramian on WebGPU: SKIPPED, no WebGPU adapter here (${result.stderr.trim().split('\n').at(-1)})`);
      context.skip();
    }
    expect(result.code, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as { backend: string; adapter: Record<string, unknown> };
    expect(info).toMatchObject({ backend: 'webgpu', tfBackend: 'webgpu', gpu: false, skipped: [] });
    expect(info.adapter).toMatchObject({ vendor: 'mesa', architecture: 'software', software: true });
    expect(info.adapter.description).toMatch(/^llvmpipe/);
  });

  it('`stylize --backend webgpu` writes the image with the losses of the same run on wasm', async (context) => {
    const args = (backend: string) => [
      'stylize',
      '--content',
      contentImage('hoovertowernight.jpg'),
      '--style',
      styleImage('starry_night.jpg'),
      '--size',
      '64',
      '--steps',
      '4',
      '--backend',
      backend,
      '--out',
      path.join(dir, `webgpu-parity-${backend}.png`),
    ];
    const webgpu = await gramian(args('webgpu'));
    if (webgpu.code !== 0 && !required && /no WebGPU adapter/.test(webgpu.stderr)) context.skip();
    expect(webgpu.code, webgpu.stderr).toBe(0);
    expect(webgpu.stderr).toContain('stylizing 64×34, 4 steps on webgpu');
    const wasm = await gramian(args('wasm'));
    expect(wasm.code, wasm.stderr).toBe(0);
    const [onGpu, onWasm] = [totals(webgpu.stderr), totals(wasm.stderr)];
    expect([...onGpu.keys()]).toEqual([1, 4]);
    // The CLI prints 4 significant digits. Step 1 agrees to 3e-7 (test/engine-webgpu.test.ts), so the printed values
    // must be the same to within 1e-4; L-BFGS then amplifies float32 rounding (step 4 measured 1.5e-4 apart): 1e-2.
    expect(Math.abs(onGpu.get(1)! - onWasm.get(1)!) / onWasm.get(1)!).toBeLessThan(1e-4);
    expect(Math.abs(onGpu.get(4)! - onWasm.get(4)!) / onWasm.get(4)!).toBeLessThan(1e-2);
    const meta = await sharp(path.join(dir, 'webgpu-parity-webgpu.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 34]);
  });
});

describe('gramian keys', () => {
  /** The server's database, found as the server finds it: DATA_DIR. */
  const keysEnv = () => ({ DATA_DIR: path.join(dir, 'keys-data') });
  const keys = (args: string[]) => gramian(['keys', ...args], keysEnv());
  /** What the server would make of a key, in the database the commands wrote. */
  async function serverVerifies(key: string) {
    const database = await openDatabase(`file:${path.join(dir, 'keys-data', 'gramian.db')}`);
    try {
      return await verifyApiKey(database.prisma, key);
    } finally {
      await database.close();
    }
  }

  it('creates a key printed alone on the last line, lists it by prefix only, and revokes it', async () => {
    const created = await keys(['create', '--name', 'ci bot', '--scopes', 'run,manage', '--owner', 'team-a']);
    expect(created.code).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    const key = lines.at(-1)!;
    expect(key).toMatch(/^gmn_[A-Za-z0-9_-]{43}$/);
    expect(created.stdout).toMatch(/shown once/);
    expect(created.stdout.split(key)).toHaveLength(2);
    const principal = await serverVerifies(key);
    expect(principal).toMatchObject({ owner: 'team-a', via: 'key' });
    expect([...principal!.scopes].sort()).toEqual(['manage', 'read', 'run']);

    const list = await keys(['list']);
    expect(list.code).toBe(0);
    const prefix = key.slice(0, 12);
    expect(list.stdout).toMatch(new RegExp(`^${prefix}\\s+ci bot\\s+team-a\\s+run,manage\\s`, 'm'));
    expect(list.stdout).not.toContain(key.slice(0, 13));
    expect(list.stdout).toMatch(/PREFIX\s+NAME\s+OWNER\s+SCOPES\s+CREATED\s+LAST USED\s+REVOKED/);

    const revoked = await keys(['revoke', prefix]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked API key ${prefix}`);
    expect(await serverVerifies(key)).toBeNull();
    expect((await keys(['list'])).stdout).toMatch(new RegExp(`^${prefix}.*\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ$`, 'm'));
  });

  it.each([
    [
      ['create', '--name', 'x', '--scopes', 'read,superuser'],
      ['superuser', 'read, run, manage, admin'],
    ],
    [['create', '--scopes', 'read'], ['--name']],
    [
      ['create', '--name', 'x'],
      ['--scopes', 'read, run, manage, admin'],
    ],
    [['create', '--name', 'x', '--scopes', 'read', '--owner', 'two words'], ['--owner']],
    [['revoke', 'gmn_nosuchkey'], ['no API key']],
    [['rotate'], ['create', 'list', 'revoke']],
    [['create', '--name', 'x', '--scopes', 'read', '--bogus'], ['bogus']],
  ])('exits 2 for keys %j', async (args, messages) => {
    const result = await keys(args);
    expect(result.code).toBe(2);
    for (const message of messages) expect(result.stderr).toContain(message);
    expect(result.stdout).not.toMatch(/gmn_[A-Za-z0-9_-]{43}/);
  });
});
