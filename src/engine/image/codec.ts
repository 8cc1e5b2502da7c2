// Image bytes in and out of the engine, through sharp: probe, decode to RGB at a size, encode results and previews.
import sharp from 'sharp';
import { EngineInputError } from '../errors.js';
import type { EncodedImage } from '../events.js';

export interface RgbImage {
  /** Interleaved RGB, 0..255, row-major. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ImageProbe {
  format: string;
  width: number;
  height: number;
}

const ACCEPTED = 'a JPEG, PNG, WebP, GIF, TIFF or AVIF image';

/** Reads the header of an encoded image; throws EngineInputError naming the field if it is not a usable image. */
export async function probeImage(bytes: Uint8Array, field: string): Promise<ImageProbe> {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) throw new EngineInputError(field, 'is empty', ACCEPTED);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch {
    throw new EngineInputError(field, 'is not a readable image', ACCEPTED);
  }
  if (!meta.format || !meta.width || !meta.height) throw new EngineInputError(field, 'has no pixels', ACCEPTED);
  // EXIF orientations 5-8 swap the displayed width and height.
  const swapped = (meta.orientation ?? 1) >= 5;
  return { format: meta.format, width: swapped ? meta.height : meta.width, height: swapped ? meta.width : meta.height };
}

/** Decodes to RGB at exactly width×height (honouring EXIF orientation, flattening alpha onto white). */
export async function decodeRgb(bytes: Uint8Array, field: string, width: number, height: number): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
    };
  } catch (error) {
    throw new EngineInputError(field, `could not be decoded: ${(error as Error).message}`, ACCEPTED);
  }
}

export type OutputFormat = 'png' | 'jpeg' | 'webp';

export const MIME: Record<OutputFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/** Encodes interleaved RGB, optionally shrinking it so its longest side is at most `maxSide`. */
export async function encodeRgb(
  image: RgbImage,
  format: OutputFormat,
  options: { maxSide?: number; quality?: number } = {},
): Promise<EncodedImage> {
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  if (options.maxSide && Math.max(image.width, image.height) > options.maxSide) {
    pipeline = pipeline.resize({ width: options.maxSide, height: options.maxSide, fit: 'inside' });
  }
  pipeline =
    format === 'png'
      ? pipeline.png()
      : format === 'jpeg'
        ? pipeline.jpeg({ quality: options.quality ?? 85 })
        : pipeline.webp({ quality: options.quality ?? 85 });
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  return {
    bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    mime: MIME[format],
    width: info.width,
    height: info.height,
  };
}
