// What a full-precision checkpoint (src/engine/gatys/checkpoint.ts) costs against a Gatys step, on the backend the
// engine would pick (wasm here): the figures behind DEFAULT_CHECKPOINT_EVERY. Per size: the median step of a short
// real L-BFGS run on VGG19 (steps 2..--steps), then, for an L-BFGS with its memory full (20 pairs by default: the
// largest state), the time to read the state back and encode it (what the run pays, every checkpoint), its size,
// the SHA-256 a content-addressed store takes of it (what the server pays), and the decode and import a resume pays
// once.
//
//   npm run bench:checkpoint                              # 256 and 512 px, history 20, 3 runs each
//   npm run bench:checkpoint -- --sizes 128,256 --history 20 --runs 5 --backend cpu
//
// Timings are medians over --runs; reads are asynchronous (`await data()`), as the engine does them.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/runtime/index.js';
import { parseBackendChoice } from '../src/engine/index.js';
import {
  checkpointIdentity,
  decodeCheckpoint,
  encodeCheckpoint,
  gatysTransfer,
  Lbfgs,
  loadTensor,
  loadVgg19,
  resolveTransferParams,
  saveTensor,
} from '../src/engine/gatys/index.js';
import { readFile } from 'node:fs/promises';
import { machineInfo, SHARED } from './machine.js';

const WEIGHTS = process.env.GRAMIAN_WEIGHTS ?? path.join(SHARED, 'models/vgg19-uint8-neuralpixels');
const CONTENT = path.join(SHARED, 'images/content/tubingen.jpg');
const STYLE = path.join(SHARED, 'images/style/starry_night.jpg');

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, performance.now() - start];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '256,512' },
      history: { type: 'string', default: '20' },
      runs: { type: 'string', default: '3' },
      steps: { type: 'string', default: '3' },
      backend: { type: 'string' },
    },
  });
  const loadAtStart = os.loadavg();
  const backend = await initBackend(values.backend ? { backend: parseBackendChoice(values.backend) } : {});
  const vgg = await loadVgg19(WEIGHTS);
  const [content, style] = await Promise.all([readFile(CONTENT), readFile(STYLE)]);
  const history = Number(values.history);
  const runs = Number(values.runs);
  console.log(JSON.stringify({ ...machineInfo(loadAtStart), backend: backend.backend, threads: backend.threads }));
  console.log(
    '\n| size | step (ms) | state (MB) | export + encode (ms) | % of a step | sha256 (ms) | decode + import (ms) |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const size of values.sizes.split(',').map(Number)) {
    const params = { content, styles: [{ image: style }], size, steps: Number(values.steps), previewEvery: 0 };
    const stepMs: number[] = [];
    let shape: [number, number, number, number] | undefined;
    for await (const event of gatysTransfer(params, { vgg })) {
      if (event.type === 'step' && event.step > 1) stepMs.push(event.ms);
      if (event.type === 'started') shape = [1, event.height, event.width, 3];
    }
    // An L-BFGS with its memory full, on a quadratic of curvatures spread over 1..1000 (every pair accepted, and
    // far from converged after `history` steps), at the run's image shape.
    const target = tf.randomNormal<tf.Rank.R4>(shape!);
    const curvature = tf.tidy(() => tf.pow(10, tf.randomUniform(shape!, 0, 3)));
    const optimizer = new Lbfgs(history);
    let x = tf.zeros<tf.Rank.R4>(shape!);
    for (let i = 0; i <= history; i++) {
      const gradient = tf.tidy(() => tf.mul<tf.Tensor4D>(tf.sub(x, target), curvature));
      const next = await optimizer.step(x, gradient);
      tf.dispose([x, gradient]);
      x = next;
    }
    const pairs = (await optimizer.exportState()).steps.length;
    if (pairs !== history) throw new Error(`the L-BFGS holds ${pairs} pairs, not ${history}`);
    const identity = checkpointIdentity(resolveTransferParams(params));
    const encodeMs: number[] = [];
    const hashMs: number[] = [];
    const decodeMs: number[] = [];
    let bytes: Uint8Array = new Uint8Array();
    for (let run = 0; run < runs; run++) {
      let ms: number;
      [bytes, ms] = await timed(async () => {
        const [image, state] = await Promise.all([saveTensor(x), optimizer.exportState()]);
        return encodeCheckpoint({ step: history + 1, scale: 0, image, optimizer: state, identity });
      });
      encodeMs.push(ms);
      hashMs.push((await timed(() => createHash('sha256').update(bytes).digest('hex')))[1]);
      const copy = new Lbfgs(history);
      decodeMs.push(
        (
          await timed(() => {
            const state = decodeCheckpoint(bytes);
            copy.importState(state.optimizer);
            loadTensor(state.image).dispose();
          })
        )[1],
      );
      copy.dispose();
    }
    tf.dispose([x, target, curvature]);
    optimizer.dispose();
    const step = median(stepMs);
    const encode = median(encodeMs);
    console.log(
      `| ${shape![2]}×${shape![1]} | ${step.toFixed(0)} | ${(bytes.byteLength / 2 ** 20).toFixed(1)} | ` +
        `${encode.toFixed(0)} | ${((100 * encode) / step).toFixed(1)} | ${median(hashMs).toFixed(0)} | ` +
        `${median(decodeMs).toFixed(0)} |`,
    );
  }
}

await main();
// The threaded wasm backend keeps its pthread workers alive: exiting is the way to end.
process.exit(0);
