// A fixed sample picture for style-model previews: drawn from SVG, so it is the same everywhere and needs no
// image file in the repository. Sky, sun, hills, a house and a tree give a model edges, flat areas and colour.
import sharp from 'sharp';
import type { EncodedImage, Engine, StyleModelSource } from '../engine/index.js';

const SCENE = `<svg xmlns="http://www.w3.org/2000/svg" width="192" height="144" viewBox="0 0 192 144">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#3d7bd9"/><stop offset="1" stop-color="#bfe3ff"/>
    </linearGradient>
    <linearGradient id="field" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#5fae3e"/><stop offset="1" stop-color="#2f6b22"/>
    </linearGradient>
  </defs>
  <rect width="192" height="144" fill="url(#sky)"/>
  <circle cx="150" cy="32" r="16" fill="#ffd23f"/>
  <path d="M0 96 Q40 64 84 92 T192 84 V144 H0 Z" fill="#7d9c5a"/>
  <path d="M0 112 Q60 92 120 112 T192 108 V144 H0 Z" fill="url(#field)"/>
  <rect x="36" y="84" width="40" height="30" fill="#e8d8b0" stroke="#5a4632" stroke-width="2"/>
  <path d="M30 86 L56 64 L82 86 Z" fill="#b2412e"/>
  <rect x="50" y="98" width="10" height="16" fill="#5a4632"/>
  <rect x="128" y="80" width="6" height="34" fill="#6b4a2b"/>
  <circle cx="131" cy="74" r="16" fill="#2e7d32"/>
</svg>`;

let rendered: Promise<Uint8Array> | undefined;

export function sampleScene(): Promise<Uint8Array> {
  rendered ??= sharp(Buffer.from(SCENE))
    .png()
    .toBuffer()
    .then((b) => new Uint8Array(b));
  return rendered;
}

/** Stylises the sample scene with a model: a preview, and proof that the model loads and runs. */
export async function stylizeSample(
  engine: Pick<Engine, 'run'>,
  model: StyleModelSource,
  size: number,
): Promise<EncodedImage> {
  // A preview, not a run: not scored.
  const job = { kind: 'FAST', params: { model, content: await sampleScene(), size }, quality: false } as const;
  for await (const event of engine.run(job)) {
    if (event.type === 'done') return event.image;
  }
  throw new Error('the preview run ended without an image');
}
