// Seeded noise for the `noise` initialisation, computed in JS so the same seed gives the same start on every backend.

/** mulberry32: a small, fast 32-bit PRNG with good statistical quality for image noise. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` normal samples with the given standard deviation (Box-Muller). */
export function gaussianNoise(count: number, seed: number, std: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(next(), 1e-12);
    const v = next();
    const radius = std * Math.sqrt(-2 * Math.log(u));
    out[i] = radius * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * v);
  }
  return out;
}
