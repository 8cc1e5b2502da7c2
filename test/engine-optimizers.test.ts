// The optimisers on problems with known answers, driven as the engine drives them: the image and the gradient as
// tensors on the backend, a new image tensor from each step, every tensor freed at the end.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam, Lbfgs, type PixelOptimizer } from '../src/engine/gatys/index.js';

/** An ill-conditioned quadratic ½ Σ cᵢ (xᵢ − tᵢ)², condition number 1000. */
function quadratic(n: number) {
  const curvature = Float32Array.from({ length: n }, (_, i) => 10 ** ((3 * i) / (n - 1)));
  const target = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const value = (x: Float32Array) => x.reduce((sum, xi, i) => sum + 0.5 * curvature[i]! * (xi - target[i]!) ** 2, 0);
  const gradient = (x: Float32Array) => x.map((xi, i) => curvature[i]! * (xi - target[i]!));
  return { value, gradient };
}

/** The 2-D Rosenbrock function, minimum 0 at (1, 1). */
const rosenbrock = {
  value: (x: Float32Array) => (1 - x[0]!) ** 2 + 100 * (x[1]! - x[0]! ** 2) ** 2,
  gradient: (x: Float32Array) =>
    Float32Array.from([-2 * (1 - x[0]!) - 400 * x[0]! * (x[1]! - x[0]! ** 2), 200 * (x[1]! - x[0]! ** 2)]),
};

async function run(
  optimizer: PixelOptimizer,
  problem: { value: (x: Float32Array) => number; gradient: (x: Float32Array) => Float32Array },
  start: Float32Array,
  steps: number,
): Promise<number> {
  const before = tf.memory().numTensors;
  const shape: [number, number, number, number] = [1, 1, start.length, 1];
  let x = tf.tensor4d(start, shape);
  for (let i = 0; i < steps; i++) {
    const gradient = tf.tensor4d(problem.gradient((await x.data()) as Float32Array), shape);
    const next = await optimizer.step(x, gradient);
    tf.dispose([x, gradient]);
    x = next;
  }
  const value = problem.value((await x.data()) as Float32Array);
  x.dispose();
  optimizer.dispose();
  // Nothing of the optimiser's state outlives it.
  expect(tf.memory().numTensors).toBe(before);
  return value;
}

describe('L-BFGS', () => {
  it('solves an ill-conditioned quadratic in far fewer steps than Adam', async () => {
    const problem = quadratic(200);
    const start = new Float32Array(200);
    const initial = problem.value(start);
    const lbfgs = await run(new Lbfgs(20), problem, start, 60);
    const adam = await run(new Adam(0.05), problem, start, 60);
    expect(lbfgs / initial).toBeLessThan(1e-4);
    expect(adam).toBeGreaterThan(10 * lbfgs);
  });

  it('follows the Rosenbrock valley to its minimum', async () => {
    expect(await run(new Lbfgs(10), rosenbrock, Float32Array.from([-1.2, 1]), 200)).toBeLessThan(1e-4);
  });

  it('is deterministic', async () => {
    const problem = quadratic(50);
    expect(await run(new Lbfgs(5), problem, new Float32Array(50), 30)).toBe(
      await run(new Lbfgs(5), problem, new Float32Array(50), 30),
    );
  });
});

describe('Adam', () => {
  it('reaches the minimum of a well-conditioned quadratic', async () => {
    const problem = {
      value: (x: Float32Array) => x.reduce((s, v) => s + (v - 3) ** 2, 0),
      gradient: (x: Float32Array) => x.map((v) => 2 * (v - 3)),
    };
    expect(await run(new Adam(0.1), problem, new Float32Array(10), 500)).toBeLessThan(1e-3);
  });
});
