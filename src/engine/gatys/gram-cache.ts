// Style Gram targets survive across runs: the same style image at the same size and layers is the most common
// repeat (a preset applied to many photos), and its VGG pass costs as much as a step.
import * as tf from '@tensorflow/tfjs';

export type GramSet = Map<string, tf.Tensor2D>;

export class GramCache {
  /** Insertion order is recency order: a hit is deleted and re-inserted. */
  private readonly entries = new Map<string, GramSet>();

  /** Style sets kept; 0 keeps none (every run computes its own). */
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): GramSet | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  /**
   * Takes ownership of the tensors (keeps them out of any tidy) and evicts the least recently used set. Returns false,
   * keeping nothing, when the cache holds no entries at all (capacity 0): the caller still owns the tensors.
   */
  set(key: string, grams: GramSet): boolean {
    if (this.capacity < 1) return false;
    for (const t of grams.values()) tf.keep(t);
    this.entries.get(key)?.forEach((t) => t.dispose());
    this.entries.set(key, grams);
    while (this.entries.size > this.capacity) {
      const [oldest, set] = this.entries.entries().next().value as [string, GramSet];
      set.forEach((t) => t.dispose());
      this.entries.delete(oldest);
    }
    return true;
  }

  clear(): void {
    for (const set of this.entries.values()) set.forEach((t) => t.dispose());
    this.entries.clear();
  }
}
