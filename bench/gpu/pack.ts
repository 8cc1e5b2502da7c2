// Packs the GPU benchmark for a machine with an NVIDIA GPU and no Node, no npm and no network:
// bench/_gpu/gramian-gpu-bench.tar.xz (ignored by git), which bench/gpu/unpack-and-run.sh unpacks and runs there.
//
//   npm run bench:gpu:pack            # stage bench/_gpu/gramian-gpu-bench/ and compress it (xz -9, one thread)
//   npm run bench:gpu:pack -- --no-compress
//
// What goes in (see bench/gpu/README.md):
//   gpu-bench.mjs      this benchmark and the engine in one ES module (esbuild): tfjs, its cpu and webgpu backends
//                      are plain JS and go inside; `sharp` is replaced by a PPM stand-in (sharp-shim.ts), so no native
//                      image library travels; `webgpu` (Dawn, native) stays outside, beside it in node_modules/
//   node_modules/webgpu/  the package's JS entry and its linux-x64 dawn.node only
//   bin/node           the Node running this script (its symbol tables stripped when `strip` is here)
//   lib/libvulkan.so.1 the Vulkan loader (Debian's libvulkan1); lib/compat/ libstdc++ and libgcc_s, lib/glibc/ this
//                      machine's C library and loader: run.sh uses them only if the target's own are too old;
//                      lib/fallback/ libGLdispatch and Xlib, which NVIDIA's driver library may need, last on the path
//   weights/vgg19/     the uint8 VGG19 (GRAMIAN_WEIGHTS or ../shared/models/vgg19-uint8-neuralpixels)
//   models/            mosaic-9 (ncnn fp16, PyTorch TransformerNet) and udnie (ml5, Engstrom TransformNet)
//   images/            content.ppm and style.ppm: tubingen and starry_night cropped square at 512², raw RGB
//   pytorch_gatys.py, run.sh, BUNDLE.json (what was packed, from which commit)
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import sharp from 'sharp';
import { encodePpm } from './sharp-shim.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const SHARED = path.resolve(REPO, '../shared');
const OUT_DIR = path.join(REPO, 'bench/_gpu');
const NAME = 'gramian-gpu-bench';
const STAGE = path.join(OUT_DIR, NAME);
const ARCHIVE = path.join(OUT_DIR, `${NAME}.tar.xz`);
/** What one device call carries is 64 MiB with the working tree: leave room for it. */
const MAX_ARCHIVE_BYTES = 60 * 1024 * 1024;
/** The side of the carried images; every benchmark size is an integer multiple or divisor of it. */
const IMAGE_SIDE = 512;

const WEIGHTS = path.resolve(process.env.GRAMIAN_WEIGHTS ?? path.join(SHARED, 'models/vgg19-uint8-neuralpixels'));
const MODELS = path.resolve(process.env.GRAMIAN_MODELS ?? path.join(SHARED, 'models'));
const IMAGES = path.join(SHARED, 'images');
const LIBVULKAN = '/usr/lib/x86_64-linux-gnu/libvulkan.so.1';
const LIB_DIR = '/lib/x86_64-linux-gnu';
const COMPAT_LIBS = ['libstdc++.so.6', 'libgcc_s.so.1'];
const GLIBC_LIBS = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'librt.so.1'];
const GLIBC_LOADER = '/lib64/ld-linux-x86-64.so.2';
/**
 * What NVIDIA's Vulkan driver library may need besides the driver's own files (glvnd's dispatch, Xlib and what that
 * needs); run.sh puts them last on the library path, so the target's own come first.
 */
const FALLBACK_LIBS = [
  'libGLdispatch.so.0',
  'libX11.so.6',
  'libXext.so.6',
  'libxcb.so.1',
  'libXau.so.6',
  'libXdmcp.so.6',
  'libbsd.so.0',
  'libmd.so.0',
];

function need(file: string, hint: string): string {
  if (!existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return file;
}

/** Copies a file, following links, into the stage. */
function put(from: string, to: string, mode?: number): void {
  mkdirSync(path.dirname(path.join(STAGE, to)), { recursive: true });
  copyFileSync(realpathSync(from), path.join(STAGE, to));
  if (mode !== undefined) chmodSync(path.join(STAGE, to), mode);
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

async function bundleScript(): Promise<string[]> {
  const result = await build({
    entryPoints: [path.join(HERE, 'gpu-bench.ts')],
    outfile: path.join(STAGE, 'gpu-bench.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The CommonJS inside (tfjs) calls require(): give the module a real one.
    banner: {
      js:
        "import { createRequire as __gpuBenchCreateRequire } from 'node:module';\n" +
        'const require = __gpuBenchCreateRequire(import.meta.url);',
    },
    alias: { sharp: path.join(HERE, 'sharp-shim.ts') },
    // Native or never loaded here: Dawn travels beside the bundle; native TensorFlow and h5wasm are not used.
    external: ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'h5wasm', 'h5wasm/*'],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const native = inputs.filter((file) => /\.node$|sharp\/lib|@img\//.test(file));
  if (native.length) throw new Error(`native code found its way into the bundle: ${native.join(', ')}`);
  return inputs;
}

function copyWebgpu(): void {
  const dir = path.join(REPO, 'node_modules/webgpu');
  need(path.join(dir, 'dist/linux-x64/dawn.node'), 'npm ci installs the optional dependency `webgpu`');
  for (const file of ['package.json', 'index.js', 'LICENSE.md', 'dist/linux-x64/dawn.node']) {
    put(path.join(dir, file), path.join('node_modules/webgpu', file));
  }
}

function copyNode(): void {
  const target = path.join(STAGE, 'bin/node');
  mkdirSync(path.dirname(target), { recursive: true });
  if (hasCommand('strip')) execFileSync('strip', ['-o', target, process.execPath]);
  else copyFileSync(process.execPath, target);
  chmodSync(target, 0o755);
}

function copyLibraries(): void {
  put(need(LIBVULKAN, 'apt-get install libvulkan1'), 'lib/libvulkan.so.1');
  for (const lib of COMPAT_LIBS) put(need(path.join(LIB_DIR, lib), 'a Debian system library'), `lib/compat/${lib}`);
  for (const lib of GLIBC_LIBS) put(need(path.join(LIB_DIR, lib), 'a Debian system library'), `lib/glibc/${lib}`);
  put(need(GLIBC_LOADER, 'the glibc loader'), 'lib/glibc/ld-linux-x86-64.so.2', 0o755);
  for (const lib of FALLBACK_LIBS) {
    put(need(path.join(LIB_DIR, lib), 'apt-get install libglvnd0 libx11-6 libxext6'), `lib/fallback/${lib}`);
  }
}

function copyData(): void {
  need(path.join(WEIGHTS, 'tfjs_weights_manifest.json'), 'set GRAMIAN_WEIGHTS to the uint8 VGG19 folder');
  for (const file of readdirSync(WEIGHTS)) {
    if (file !== 'manifest.json') put(path.join(WEIGHTS, file), path.join('weights/vgg19', file));
  }
  const ncnn = path.join(MODELS, 'pytorch-fns-ncnn-fp16');
  for (const file of ['mosaic-9.param', 'mosaic-9.bin'])
    put(need(path.join(ncnn, file), 'GRAMIAN_MODELS'), `models/${file}`);
  put(path.join(ncnn, 'SOURCE.md'), 'models/SOURCE-ncnn.md');
  cpSync(need(path.join(MODELS, 'fast-style-ml5/udnie'), 'GRAMIAN_MODELS'), path.join(STAGE, 'models/udnie'), {
    recursive: true,
    dereference: true,
  });
  put(path.join(MODELS, 'fast-style-ml5/SOURCE.md'), 'models/SOURCE-ml5.md');
}

/** Tubingen and starry_night (as `npm run bench` uses), cover-cropped square, as raw RGB PPM. */
async function makeImages(): Promise<void> {
  const pairs = { content: 'content/tubingen.jpg', style: 'style/starry_night.jpg' };
  mkdirSync(path.join(STAGE, 'images'), { recursive: true });
  for (const [name, file] of Object.entries(pairs)) {
    const { data, info } = await sharp(await readFile(need(path.join(IMAGES, file), 'the shared images')))
      .resize(IMAGE_SIDE, IMAGE_SIDE, { fit: 'cover' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const ppm = encodePpm({ data: new Uint8Array(data), width: info.width, height: info.height });
    await writeFile(path.join(STAGE, 'images', `${name}.ppm`), ppm);
  }
  put(path.join(IMAGES, 'SOURCE.md'), 'images/SOURCE.md');
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function listFiles(dir: string, base = dir): { path: string; bytes: number }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory()
      ? listFiles(full, base)
      : [{ path: path.relative(base, full), bytes: statSync(full).size }];
  });
}

async function writeManifest(inputs: string[]): Promise<void> {
  const script = await readFile(path.join(STAGE, 'gpu-bench.mjs'));
  const files = listFiles(STAGE);
  const manifest = {
    name: NAME,
    packedAt: new Date().toISOString(),
    commit: git(['rev-parse', 'HEAD']),
    // Work in progress in the tree when packing is in the bundle too: name it, so figures are not misattributed.
    uncommitted: git(['status', '--porcelain', '--', 'src/engine', 'bench/gpu', 'package.json'])
      .split('\n')
      .filter(Boolean),
    node: process.version,
    gpuBenchSha256: createHash('sha256').update(script).digest('hex'),
    bundledInputs: inputs.length,
    engineSources: inputs.filter((file) => file.startsWith('src/engine/')).sort(),
    totalBytes: files.reduce((sum, f) => sum + f.bytes, 0),
    files,
  };
  await writeFile(path.join(STAGE, 'BUNDLE.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

function compress(): number {
  rmSync(ARCHIVE, { force: true });
  // One thread, as this machine is shared; -9 because the archive must fit one device call.
  const tar = spawnSync('tar', ['-C', OUT_DIR, '-cJf', ARCHIVE, NAME], {
    stdio: 'inherit',
    env: { ...process.env, XZ_OPT: '-9 -T1' },
  });
  if (tar.status !== 0) throw new Error(`tar failed (${tar.status ?? tar.signal})`);
  return statSync(ARCHIVE).size;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'no-compress': { type: 'boolean' } }, strict: true });
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('packs on linux-x64 only');
  rmSync(STAGE, { recursive: true, force: true });
  mkdirSync(STAGE, { recursive: true });
  console.error(`packing ${STAGE}`);
  const inputs = await bundleScript();
  copyWebgpu();
  copyNode();
  copyLibraries();
  copyData();
  await makeImages();
  put(path.join(HERE, 'pytorch_gatys.py'), 'pytorch_gatys.py');
  put(path.join(HERE, 'run.sh'), 'run.sh', 0o755);
  await writeManifest(inputs);
  const sizes = new Map<string, number>();
  for (const file of listFiles(STAGE)) {
    const top = file.path
      .split(path.sep)
      .slice(0, file.path.startsWith('node_modules') ? 2 : 1)
      .join('/');
    sizes.set(top, (sizes.get(top) ?? 0) + file.bytes);
  }
  for (const [name, bytes] of [...sizes].sort((a, b) => b[1] - a[1]))
    console.error(`  ${mib(bytes).padStart(10)}  ${name}`);
  if (values['no-compress']) return;
  console.error(`compressing (xz -9, one thread: a minute or two) into ${ARCHIVE}`);
  const bytes = compress();
  console.error(`${ARCHIVE}: ${mib(bytes)}`);
  if (bytes > MAX_ARCHIVE_BYTES) throw new Error(`the archive is ${mib(bytes)}, over ${mib(MAX_ARCHIVE_BYTES)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
