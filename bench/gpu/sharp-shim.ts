// A stand-in for sharp in the carried GPU benchmark only (pack.ts aliases `sharp` to this file): binary PPM (P6)
// in and out, so that the bundle needs no native image library. It covers exactly the calls src/engine/image/codec.ts
// makes. Nothing it does is inside a timed part: the engine decodes before its first step and encodes after its
// last, and a fast pass is timed from the network's input tensor to the read-back of its output.
//
// Resizing is integer-ratio only, in integer arithmetic that pytorch_gatys.py repeats byte for byte: a box average
// (rounded half up) to shrink by k, pixel repetition to grow by k; the same size is a copy. Any other ratio falls back
// to nearest neighbour.

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A binary PPM (P6, maxval 255) of interleaved RGB. */
export function encodePpm(image: RawImage): Uint8Array {
  const header = new TextEncoder().encode(`P6\n${image.width} ${image.height}\n255\n`);
  const out = new Uint8Array(header.length + image.data.length);
  out.set(header);
  out.set(image.data, header.length);
  return out;
}

/** Parses a binary PPM (P6, maxval 255); throws on anything else. */
export function decodePpm(bytes: Uint8Array): RawImage {
  const fields: string[] = [];
  let i = 0;
  const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
  while (fields.length < 4 && i < bytes.length) {
    const c = bytes[i]!;
    if (c === 0x23) {
      while (i < bytes.length && bytes[i] !== 0x0a) i++;
    } else if (isSpace(c)) {
      i++;
    } else {
      let field = '';
      while (i < bytes.length && !isSpace(bytes[i]!)) field += String.fromCharCode(bytes[i++]!);
      fields.push(field);
    }
  }
  const [magic, w, h, max] = fields;
  const width = Number(w);
  const height = Number(h);
  if (magic !== 'P6' || max !== '255' || !(width > 0) || !(height > 0)) throw new Error('not a binary 8-bit PPM (P6)');
  const start = i + 1; // one whitespace byte ends the header
  const data = bytes.subarray(start, start + width * height * 3);
  if (data.length !== width * height * 3) throw new Error('PPM pixel data is truncated');
  return { data, width, height };
}

/** Integer-ratio resize (box average down, repetition up), else nearest neighbour. */
export function resizeRgb(image: RawImage, width: number, height: number): RawImage {
  const { data, width: w0, height: h0 } = image;
  if (w0 === width && h0 === height) return { data: Uint8Array.from(data), width, height };
  const out = new Uint8Array(width * height * 3);
  const down = w0 % width === 0 && h0 % height === 0 && w0 / width === h0 / height;
  const up = width % w0 === 0 && height % h0 === 0 && width / w0 === height / h0;
  if (down) {
    const k = w0 / width;
    const n = k * k;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (let dy = 0; dy < k; dy++) {
            const row = (y * k + dy) * w0;
            for (let dx = 0; dx < k; dx++) sum += data[(row + x * k + dx) * 3 + c]!;
          }
          out[(y * width + x) * 3 + c] = Math.floor((sum + n / 2) / n);
        }
      }
    }
  } else {
    // Repetition (an integer ratio up) is nearest neighbour with exact source indices.
    for (let y = 0; y < height; y++) {
      const sy = up ? Math.floor(y / (height / h0)) : Math.min(h0 - 1, Math.floor(((y + 0.5) * h0) / height));
      for (let x = 0; x < width; x++) {
        const sx = up ? Math.floor(x / (width / w0)) : Math.min(w0 - 1, Math.floor(((x + 0.5) * w0) / width));
        const from = (sy * w0 + sx) * 3;
        out.set(data.subarray(from, from + 3), (y * width + x) * 3);
      }
    }
  }
  return { data: out, width, height };
}

interface ResizeOptions {
  width?: number;
  height?: number;
  fit?: string;
}

/** The chain codec.ts builds; the colour and alpha steps are no-ops on PPM (always opaque sRGB). */
class Pipeline {
  private target: { width?: number; height?: number; fit?: string } = {};

  constructor(
    private readonly input: Uint8Array,
    private readonly rawInput?: { width: number; height: number; channels: number },
  ) {}

  metadata(): Promise<{ format: string; width: number; height: number; orientation?: number }> {
    const { width, height } = decodePpm(this.input);
    return Promise.resolve({ format: 'ppm', width, height });
  }

  rotate(): this {
    return this;
  }
  flatten(): this {
    return this;
  }
  toColourspace(): this {
    return this;
  }
  removeAlpha(): this {
    return this;
  }
  raw(): this {
    return this;
  }
  png(): this {
    return this;
  }
  jpeg(): this {
    return this;
  }
  webp(): this {
    return this;
  }

  resize(width: number | ResizeOptions, height?: number, options?: ResizeOptions): this {
    this.target = typeof width === 'object' ? { ...width } : { width, ...(height ? { height } : {}), ...options };
    return this;
  }

  private source(): RawImage {
    if (!this.rawInput) return decodePpm(this.input);
    if (this.rawInput.channels !== 3) throw new Error('the PPM stand-in for sharp takes 3-channel raw input only');
    return { data: this.input, width: this.rawInput.width, height: this.rawInput.height };
  }

  private sized(): RawImage {
    const image = this.source();
    let { width = image.width, height = image.height } = this.target;
    if (this.target.fit === 'inside') {
      const scale = Math.min(1, width / image.width, height / image.height);
      width = Math.max(1, Math.round(image.width * scale));
      height = Math.max(1, Math.round(image.height * scale));
    }
    return resizeRgb(image, width, height);
  }

  /** Raw RGB when the input was encoded (a decode); a PPM when the input was raw (an encode). */
  toBuffer(_options?: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number } }> {
    try {
      const image = this.sized();
      const bytes = this.rawInput ? encodePpm(image) : image.data;
      const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return Promise.resolve({ data, info: { width: image.width, height: image.height } });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

export default function sharp(
  input: Uint8Array,
  options?: { raw?: { width: number; height: number; channels: number } },
): Pipeline {
  return new Pipeline(input, options?.raw);
}
