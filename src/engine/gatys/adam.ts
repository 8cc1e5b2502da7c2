// Adam on a flat parameter vector (Kingma & Ba), step size in pixel units as neural-style's -learning_rate.
import type { PixelOptimizer } from './optimizer.js';

export class Adam implements PixelOptimizer {
  private firstMoment?: Float32Array;
  private secondMoment?: Float32Array;
  private t = 0;

  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {}

  step(x: Float32Array, gradient: Float32Array): void {
    const m = (this.firstMoment ??= new Float32Array(x.length));
    const v = (this.secondMoment ??= new Float32Array(x.length));
    this.t += 1;
    const correction1 = 1 - this.beta1 ** this.t;
    const correction2 = 1 - this.beta2 ** this.t;
    const { beta1, beta2, epsilon, learningRate } = this;
    for (let i = 0; i < x.length; i++) {
      const g = gradient[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
      x[i] = x[i]! - (learningRate * (m[i]! / correction1)) / (Math.sqrt(v[i]! / correction2) + epsilon);
    }
  }
}
