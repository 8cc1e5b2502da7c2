// Adam (Kingma & Ba) on the image tensor, step size in pixel units as neural-style's -learning_rate; its moments
// stay on the backend.
import * as tf from '@tensorflow/tfjs';
import { EngineInputError } from '../errors.js';
import type { AdamState, OptimizerState } from './checkpoint.js';
import { loadTensors, saveTensor, type PixelOptimizer } from './optimizer.js';

export class Adam implements PixelOptimizer {
  private firstMoment?: tf.Tensor4D;
  private secondMoment?: tf.Tensor4D;
  private t = 0;

  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {}

  step(x: tf.Tensor4D, gradient: tf.Tensor4D): Promise<tf.Tensor4D> {
    this.t += 1;
    const { beta1, beta2, epsilon, learningRate, t } = this;
    const previous = [this.firstMoment, this.secondMoment];
    const [m, v, next] = tf.tidy(() => {
      const m = tf.add<tf.Tensor4D>(tf.mul(this.firstMoment ?? tf.zerosLike(x), beta1), tf.mul(gradient, 1 - beta1));
      const v = tf.add<tf.Tensor4D>(
        tf.mul(this.secondMoment ?? tf.zerosLike(x), beta2),
        tf.mul(tf.square(gradient), 1 - beta2),
      );
      const corrected1 = tf.div(m, 1 - beta1 ** t);
      const corrected2 = tf.div(v, 1 - beta2 ** t);
      const next = tf.sub<tf.Tensor4D>(
        x,
        tf.div(tf.mul(corrected1, learningRate), tf.add(tf.sqrt(corrected2), epsilon)),
      );
      return [m, v, next];
    });
    tf.dispose(previous.filter((p): p is tf.Tensor4D => p !== undefined));
    this.firstMoment = m;
    this.secondMoment = v;
    return Promise.resolve(next);
  }

  dispose(): void {
    this.firstMoment?.dispose();
    this.secondMoment?.dispose();
    this.firstMoment = undefined;
    this.secondMoment = undefined;
  }

  async exportState(): Promise<AdamState> {
    const [firstMoment, secondMoment] = await Promise.all(
      [this.firstMoment, this.secondMoment].map((t) => (t ? saveTensor(t) : Promise.resolve(undefined))),
    );
    return {
      kind: 'adam',
      t: this.t,
      ...(firstMoment ? { firstMoment } : {}),
      ...(secondMoment ? { secondMoment } : {}),
    };
  }

  importState(state: OptimizerState): void {
    if (state.kind !== 'adam') throw new EngineInputError('resume.state', `holds an ${state.kind} state, not Adam's`);
    if (Boolean(state.firstMoment) !== Boolean(state.secondMoment))
      throw new EngineInputError('resume.state', "holds one of Adam's two moments without the other");
    const [m, v] = state.firstMoment && state.secondMoment ? loadTensors([state.firstMoment, state.secondMoment]) : [];
    this.dispose();
    this.firstMoment = m;
    this.secondMoment = v;
    this.t = state.t;
  }
}
