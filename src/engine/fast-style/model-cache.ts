// Loaded style models kept across runs (per engine worker): a small LRU that disposes what it evicts. A model is
// keyed by its files' identity (path, size and modification time), so a model replaced on disk is loaded again.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ML5_MANIFEST } from './ml5-checkpoint.js';
import { checkModelSource } from './model-source.js';
import { loadStyleModel, type LoadStyleModelOptions } from './style-model.js';
import type { StyleModel, StyleModelSource } from './types.js';

interface Entry {
  /** Which model (architecture, format, absolute path). */
  base: string;
  model: StyleModel;
}

async function stamp(source: StyleModelSource): Promise<string> {
  const main = source.format === 'ml5-checkpoint' ? path.join(source.path, ML5_MANIFEST) : source.path;
  // An unreadable file is reported by loadStyleModel, with the real reason.
  return stat(main).then(
    (s) => `${s.size}:${s.mtimeMs}`,
    () => 'unreadable',
  );
}

export class StyleModelCache {
  private readonly entries = new Map<string, Entry>();
  readonly capacity: number;

  constructor(
    capacity: number,
    private readonly options: LoadStyleModelOptions = {},
  ) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  get size(): number {
    return this.entries.size;
  }

  /** The loaded model for this source, loading it (and evicting the least recently used) when needed. */
  async get(input: StyleModelSource): Promise<StyleModel> {
    const source = checkModelSource(input);
    const base = `${source.architecture}\n${source.format}\n${path.resolve(source.path)}`;
    const key = `${base}\n${await stamp(source)}`;
    const cached = this.entries.get(key);
    if (cached) {
      // Re-insert: a Map iterates in insertion order, so the first entry is always the least recently used.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached.model;
    }
    const model = await loadStyleModel(source, this.options);
    // An older version of the same files is stale now.
    for (const [k, entry] of this.entries) {
      if (entry.base === base) this.evict(k);
    }
    while (this.entries.size >= this.capacity) this.evict(this.entries.keys().next().value as string);
    this.entries.set(key, { base, model });
    return model;
  }

  private evict(key: string): void {
    this.entries.get(key)?.model.dispose();
    this.entries.delete(key);
  }

  clear(): void {
    for (const entry of this.entries.values()) entry.model.dispose();
    this.entries.clear();
  }
}
