// Image files, content-addressed: each image is stored once under the SHA-256 of its bytes (images/ab/abcdef…),
// with an Image row for its type and size. Uploads are checked before anything is written.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { ImageTooLargeError, InputError, NotFoundError } from '../errors.js';
import type { Db } from './db.js';
import type { Image } from './generated/client.ts';

const MIME_BY_FORMAT: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heif: 'image/heif',
};
const ACCEPTED = 'JPEG, PNG, WebP, GIF, TIFF or AVIF';

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

/** A checked image, ready to be stored. */
export interface CheckedImage {
  bytes: Uint8Array;
  sha256: string;
  mime: string;
  width: number;
  height: number;
}

export class ImageStore {
  constructor(
    private readonly db: Db,
    readonly root: string,
    readonly limits: ImageLimits,
  ) {}

  /** Checks bytes a client sent: an image of an accepted type, within the byte and pixel limits. */
  async check(bytes: Uint8Array, field: string): Promise<CheckedImage> {
    if (bytes.byteLength === 0) throw new InputError(field, 'is empty', ACCEPTED, 'NOT_AN_IMAGE');
    if (bytes.byteLength > this.limits.maxBytes) {
      throw new ImageTooLargeError(
        field,
        `is ${bytes.byteLength} bytes, more than the limit of ${this.limits.maxBytes}`,
        this.limits.maxBytes,
      );
    }
    let meta: sharp.Metadata;
    try {
      // limitInputPixels: false lets us report the size ourselves instead of sharp's generic refusal.
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch {
      throw new InputError(field, 'is not an image', ACCEPTED, 'NOT_AN_IMAGE');
    }
    const mime = meta.format ? MIME_BY_FORMAT[meta.format] : undefined;
    if (!mime || !meta.width || !meta.height)
      throw new InputError(
        field,
        `is not an accepted image (${meta.format ?? 'unknown format'})`,
        ACCEPTED,
        'NOT_AN_IMAGE',
      );
    if (meta.width * meta.height > this.limits.maxPixels) {
      throw new ImageTooLargeError(
        field,
        `is ${meta.width}×${meta.height} pixels, more than the limit of ${this.limits.maxPixels}`,
        this.limits.maxPixels,
      );
    }
    // Decoding the whole image catches truncated files whose header alone looks fine.
    try {
      await sharp(bytes, { limitInputPixels: false }).stats();
    } catch {
      throw new InputError(field, 'is damaged and cannot be decoded', ACCEPTED, 'NOT_AN_IMAGE');
    }
    const swapped = (meta.orientation ?? 1) >= 5;
    return {
      bytes,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      mime,
      width: swapped ? meta.height : meta.width,
      height: swapped ? meta.width : meta.height,
    };
  }

  /**
   * Writes the file (once), its row, and that `owner` may read it. Safe to call again for the same bytes, by the same
   * owner or another: the bytes are stored once, each owner is recorded once.
   */
  async save(image: CheckedImage | Omit<CheckedImage, 'sha256'>, owner: string): Promise<Image> {
    const sha256 = 'sha256' in image ? image.sha256 : createHash('sha256').update(image.bytes).digest('hex');
    const file = this.pathOf(sha256);
    await this.writeIfMissing(file, image.bytes);
    const { mime, width, height } = image;
    const [row] = await this.db.$transaction([
      // createdAt is when the bytes were last stored: storing them again renews the day an unreferenced image is
      // kept for (src/domain/retention.ts), so an upload of bytes stored long ago is not collected before it is used.
      this.db.image.upsert({
        where: { id: sha256 },
        create: { id: sha256, mime, width, height, bytes: image.bytes.byteLength },
        update: { createdAt: new Date() },
      }),
      this.db.imageOwner.upsert({
        where: { imageId_owner: { imageId: sha256, owner } },
        create: { imageId: sha256, owner },
        update: {},
      }),
    ]);
    // A collection (storage/image-collector.ts) may have removed the old row and its file between the check above and
    // the upsert. The row committed now is fresh, so no collection removes it; the file is written again if it went.
    await this.writeIfMissing(file, image.bytes);
    return row;
  }

  private async writeIfMissing(file: string, bytes: Uint8Array): Promise<void> {
    if (existsSync(file)) return;
    await mkdir(path.dirname(file), { recursive: true });
    // Unique per write: two saves of the same bytes at once (two uploads, two hosts on a shared folder) must not
    // share a temporary file, or one renames it away under the other.
    const temporary = `${file}.${randomUUID()}.tmp`;
    await writeFile(temporary, bytes);
    await rename(temporary, file);
  }

  /**
   * Runs `write`, which stores a row naming the images `ids`. An image nothing referenced may be collected at that
   * very moment: then the write fails on its foreign key with nothing written, and this throws NotFoundError for the
   * image that is gone, as if it had been gone before the request (see storage/image-collector.ts).
   */
  async referencing<T>(ids: readonly string[], write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code === 'P2003') {
        for (const id of ids) {
          if (!(await this.db.image.findUnique({ where: { id }, select: { id: true } })))
            throw new NotFoundError('Image', id);
        }
      }
      throw error;
    }
  }

  /** The row of a stored image that one of `owners` may read (anyone's when omitted: an admin), or null. */
  find(sha256: string, owners?: readonly string[]): Promise<Image | null> {
    const readable = owners ? { owners: { some: { owner: { in: [...owners] } } } } : {};
    return this.db.image.findFirst({ where: { id: sha256, ...readable } });
  }

  pathOf(sha256: string): string {
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  async read(sha256: string): Promise<Uint8Array> {
    return readFile(this.pathOf(sha256));
  }
}
