// Limited-memory BFGS on a flat parameter vector, as torch/optim's lbfgs that jcjohnson/neural-style uses:
// no line search, a fixed step scale, one objective evaluation per iteration. Vectors stay in JS typed arrays:
// at a few hundred thousand pixels the two-loop recursion costs milliseconds next to a VGG19 pass.
import type { PixelOptimizer } from './optimizer.js';

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

export class Lbfgs implements PixelOptimizer {
  /** Past steps s = x_{k+1} − x_k and gradient changes y = g_{k+1} − g_k, oldest first. */
  private readonly steps: Float32Array[] = [];
  private readonly gradientChanges: Float32Array[] = [];
  private readonly curvatures: number[] = [];
  private previousGradient?: Float32Array;
  private direction?: Float32Array;
  private stepScale = 0;
  private hessianDiagonal = 1;

  constructor(
    private readonly history: number,
    private readonly learningRate = 1,
  ) {}

  step(x: Float32Array, gradient: Float32Array): void {
    const n = x.length;
    const d = this.direction ?? new Float32Array(n);
    if (!this.previousGradient) {
      for (let i = 0; i < n; i++) d[i] = -gradient[i]!;
    } else {
      this.remember(gradient, d);
      this.twoLoop(gradient, d);
    }
    const slope = dot(gradient, d);
    if (!(slope < 0)) {
      // Not a descent direction (curvature pairs went stale): forget them and restart from steepest descent.
      this.forget();
      for (let i = 0; i < n; i++) d[i] = -gradient[i]!;
    }
    // The first step is scaled by 1/‖g‖₁ so it cannot overshoot before any curvature is known.
    let gradientL1 = 0;
    if (this.steps.length === 0) for (let i = 0; i < n; i++) gradientL1 += Math.abs(gradient[i]!);
    this.stepScale =
      this.steps.length === 0 ? Math.min(1, 1 / Math.max(gradientL1, 1e-12)) * this.learningRate : this.learningRate;
    for (let i = 0; i < n; i++) x[i] = x[i]! + this.stepScale * d[i]!;
    this.direction = d;
    this.previousGradient = Float32Array.from(gradient);
  }

  /** Records the pair from the last step, dropping the oldest once the memory is full. */
  private remember(gradient: Float32Array, lastDirection: Float32Array): void {
    const n = gradient.length;
    const full = this.steps.length >= this.history;
    const s = full ? this.steps.shift()! : new Float32Array(n);
    const y = full ? this.gradientChanges.shift()! : new Float32Array(n);
    if (full) this.curvatures.shift();
    const previous = this.previousGradient!;
    for (let i = 0; i < n; i++) {
      s[i] = lastDirection[i]! * this.stepScale;
      y[i] = gradient[i]! - previous[i]!;
    }
    const ys = dot(y, s);
    if (ys > 1e-10) {
      this.steps.push(s);
      this.gradientChanges.push(y);
      this.curvatures.push(1 / ys);
      this.hessianDiagonal = ys / dot(y, y);
    }
  }

  /** d = −H·g by the two-loop recursion. */
  private twoLoop(gradient: Float32Array, d: Float32Array): void {
    const n = gradient.length;
    const k = this.steps.length;
    const alphas = new Float64Array(k);
    for (let i = 0; i < n; i++) d[i] = -gradient[i]!;
    for (let j = k - 1; j >= 0; j--) {
      const alpha = this.curvatures[j]! * dot(this.steps[j]!, d);
      alphas[j] = alpha;
      const y = this.gradientChanges[j]!;
      for (let i = 0; i < n; i++) d[i] = d[i]! - alpha * y[i]!;
    }
    for (let i = 0; i < n; i++) d[i] = d[i]! * this.hessianDiagonal;
    for (let j = 0; j < k; j++) {
      const beta = this.curvatures[j]! * dot(this.gradientChanges[j]!, d);
      const s = this.steps[j]!;
      const coefficient = alphas[j]! - beta;
      for (let i = 0; i < n; i++) d[i] = d[i]! + coefficient * s[i]!;
    }
  }

  private forget(): void {
    this.steps.length = 0;
    this.gradientChanges.length = 0;
    this.curvatures.length = 0;
    this.hessianDiagonal = 1;
  }
}
