// The optimisers on problems with known answers, in plain JS arrays as the engine drives them.
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

function run(
  optimizer: PixelOptimizer,
  problem: { value: (x: Float32Array) => number; gradient: (x: Float32Array) => Float32Array },
  start: Float32Array,
  steps: number,
): number {
  const x = Float32Array.from(start);
  for (let i = 0; i < steps; i++) optimizer.step(x, problem.gradient(x));
  return problem.value(x);
}

describe('L-BFGS', () => {
  it('solves an ill-conditioned quadratic in far fewer steps than Adam', () => {
    const problem = quadratic(200);
    const start = new Float32Array(200);
    const initial = problem.value(start);
    const lbfgs = run(new Lbfgs(20), problem, start, 60);
    const adam = run(new Adam(0.05), problem, start, 60);
    expect(lbfgs / initial).toBeLessThan(1e-4);
    expect(adam).toBeGreaterThan(10 * lbfgs);
  });

  it('follows the Rosenbrock valley to its minimum', () => {
    expect(run(new Lbfgs(10), rosenbrock, Float32Array.from([-1.2, 1]), 200)).toBeLessThan(1e-4);
  });

  it('is deterministic', () => {
    const problem = quadratic(50);
    expect(run(new Lbfgs(5), problem, new Float32Array(50), 30)).toBe(
      run(new Lbfgs(5), problem, new Float32Array(50), 30),
    );
  });
});

describe('Adam', () => {
  it('reaches the minimum of a well-conditioned quadratic', () => {
    const problem = {
      value: (x: Float32Array) => x.reduce((s, v) => s + (v - 3) ** 2, 0),
      gradient: (x: Float32Array) => x.map((v) => 2 * (v - 3)),
    };
    expect(run(new Adam(0.1), problem, new Float32Array(10), 500)).toBeLessThan(1e-3);
  });
});
