// Limited-memory BFGS, as torch/optim's lbfgs that jcjohnson/neural-style uses: no line search, a fixed step scale,
// one objective evaluation per iteration. The curvature pairs and the direction are tensors on the backend; the
// two-loop recursion keeps its coefficients as scalar tensors, so a step reads back only the two numbers its
// branches need (the pair's curvature, and whether the direction descends).
import * as tf from '@tensorflow/tfjs';
import { EngineInputError } from '../errors.js';
import type { LbfgsState, OptimizerState } from './checkpoint.js';
import { dot, loadTensors, readScalars, saveTensor, type PixelOptimizer } from './optimizer.js';

export class Lbfgs implements PixelOptimizer {
  /** Past steps s = x_{k+1} − x_k and gradient changes y = g_{k+1} − g_k, oldest first. */
  private readonly steps: tf.Tensor[] = [];
  private readonly gradientChanges: tf.Tensor[] = [];
  /** 1 / (yᵀs) of each pair. */
  private readonly curvatures: number[] = [];
  private previousGradient?: tf.Tensor;
  private direction?: tf.Tensor;
  private stepScale = 0;
  private hessianDiagonal = 1;

  constructor(
    private readonly history: number,
    private readonly learningRate = 1,
  ) {}

  async step(x: tf.Tensor4D, gradient: tf.Tensor4D): Promise<tf.Tensor4D> {
    let d: tf.Tensor;
    if (!this.previousGradient) {
      d = tf.neg(gradient);
    } else {
      await this.remember(gradient);
      d = this.twoLoop(gradient);
    }
    const first = this.steps.length === 0;
    const [slope, gradientL1] = await readScalars(
      dot(gradient, d),
      first ? tf.tidy(() => tf.sum<tf.Scalar>(tf.abs(gradient))) : tf.scalar(0),
    );
    if (!(slope! < 0)) {
      // Not a descent direction (curvature pairs went stale): forget them and restart from steepest descent.
      this.forget();
      d.dispose();
      d = tf.neg(gradient);
    }
    // The first step is scaled by 1/‖g‖₁ so it cannot overshoot before any curvature is known.
    this.stepScale =
      this.steps.length === 0 ? Math.min(1, 1 / Math.max(gradientL1!, 1e-12)) * this.learningRate : this.learningRate;
    const scale = this.stepScale;
    const next = tf.tidy(() => tf.add<tf.Tensor4D>(x, tf.mul(d, scale)));
    this.direction?.dispose();
    this.direction = d;
    this.previousGradient?.dispose();
    this.previousGradient = gradient.clone();
    return next;
  }

  dispose(): void {
    this.forget();
    this.direction?.dispose();
    this.previousGradient?.dispose();
    this.direction = undefined;
    this.previousGradient = undefined;
  }

  async exportState(): Promise<LbfgsState> {
    const [steps, gradientChanges, optional] = await Promise.all([
      Promise.all(this.steps.map(saveTensor)),
      Promise.all(this.gradientChanges.map(saveTensor)),
      Promise.all([this.previousGradient, this.direction].map((t) => (t ? saveTensor(t) : Promise.resolve(undefined)))),
    ]);
    const [previousGradient, direction] = optional;
    return {
      kind: 'lbfgs',
      steps,
      gradientChanges,
      curvatures: [...this.curvatures],
      ...(previousGradient ? { previousGradient } : {}),
      ...(direction ? { direction } : {}),
      stepScale: this.stepScale,
      hessianDiagonal: this.hessianDiagonal,
    };
  }

  importState(state: OptimizerState): void {
    if (state.kind !== 'lbfgs')
      throw new EngineInputError('resume.state', `holds an ${state.kind} state, not L-BFGS's`);
    if (state.steps.length > this.history) {
      throw new EngineInputError(
        'resume.state',
        `holds ${state.steps.length} curvature pairs, more than lbfgsHistory ${this.history}`,
      );
    }
    const optional = [state.previousGradient, state.direction];
    const loaded = loadTensors([...state.steps, ...state.gradientChanges, ...optional.filter((t) => t !== undefined)]);
    this.dispose();
    const pairs = state.steps.length;
    this.steps.push(...loaded.slice(0, pairs));
    this.gradientChanges.push(...loaded.slice(pairs, 2 * pairs));
    this.curvatures.push(...state.curvatures);
    const rest = loaded.slice(2 * pairs);
    if (state.previousGradient) this.previousGradient = rest.shift();
    if (state.direction) this.direction = rest.shift();
    this.stepScale = state.stepScale;
    this.hessianDiagonal = state.hessianDiagonal;
  }

  /** Records the pair from the last step when its curvature is positive, dropping the oldest once memory is full. */
  private async remember(gradient: tf.Tensor): Promise<void> {
    const scale = this.stepScale;
    const s = tf.tidy(() => tf.mul(this.direction!, scale));
    const y = tf.tidy(() => tf.sub(gradient, this.previousGradient!));
    const [ys, yy] = await readScalars(dot(y, s), dot(y, y));
    if (!(ys! > 1e-10)) {
      tf.dispose([s, y]);
      return;
    }
    if (this.steps.length >= this.history) {
      tf.dispose([this.steps.shift()!, this.gradientChanges.shift()!]);
      this.curvatures.shift();
    }
    this.steps.push(s);
    this.gradientChanges.push(y);
    this.curvatures.push(1 / ys!);
    this.hessianDiagonal = ys! / yy!;
  }

  /** d = −H·g by the two-loop recursion; the α and β coefficients stay on the backend. */
  private twoLoop(gradient: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const k = this.steps.length;
      const alphas: tf.Scalar[] = new Array<tf.Scalar>(k);
      let d = tf.neg(gradient);
      for (let j = k - 1; j >= 0; j--) {
        const alpha = tf.mul<tf.Scalar>(dot(this.steps[j]!, d), this.curvatures[j]!);
        alphas[j] = alpha;
        d = tf.sub(d, tf.mul(this.gradientChanges[j]!, alpha));
      }
      d = tf.mul(d, this.hessianDiagonal);
      for (let j = 0; j < k; j++) {
        const beta = tf.mul<tf.Scalar>(dot(this.gradientChanges[j]!, d), this.curvatures[j]!);
        d = tf.add(d, tf.mul(this.steps[j]!, tf.sub(alphas[j]!, beta)));
      }
      return d;
    });
  }

  private forget(): void {
    tf.dispose([...this.steps, ...this.gradientChanges]);
    this.steps.length = 0;
    this.gradientChanges.length = 0;
    this.curvatures.length = 0;
    this.hessianDiagonal = 1;
  }
}
