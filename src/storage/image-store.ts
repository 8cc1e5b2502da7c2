// Images, content-addressed: each is stored once, in a BlobStore (a folder or an S3 bucket, IMAGE_STORE), under the
// SHA-256 of its bytes, with an Image row for its type and size. Uploads are checked before anything is written.
// The same rows and keys hold opaque objects that are not images (run checkpoints, saveObject): stored and owned the
// same way, read back by id, but never found as images (find) and so never served or named as one.
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { ImageTooLargeError, InputError, NotFoundError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import type { Db } from './db.js';
import { FolderBlobStore } from './folder-blob-store.js';
import type { Image } from './generated/client.ts';

/** The mime type of an engine checkpoint (full-precision image and optimiser state), stored with saveObject. */
export const CHECKPOINT_MIME = 'application/x-gramian-checkpoint';
/** Images have mime types under image/; anything else is an object (saveObject). */
const IMAGE_MIME_PREFIX = 'image/';

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

/** What an object stored with saveObject is: its type, and the image size it stands for (0 × 0 when none). */
export interface ObjectInfo {
  mime: string;
  width: number;
  height: number;
}

export class ImageStore {
  readonly blobs: BlobStore;

  /** `blobs`: where the bytes go; a folder path is a FolderBlobStore there (not checked: openBlobStore checks). */
  constructor(
    private readonly db: Db,
    blobs: BlobStore | string,
    readonly limits: ImageLimits,
  ) {
    this.blobs = typeof blobs === 'string' ? new FolderBlobStore(blobs) : blobs;
  }

  /** The folder of a folder store (tests and tools that look at the files); throws for any other store. */
  get root(): string {
    if (this.blobs instanceof FolderBlobStore) return this.blobs.root;
    throw new Error(`the image store is not a folder: ${this.blobs.describe()}`);
  }

  /** The file of `sha256` in a folder store; throws for any other store. */
  pathOf(sha256: string): string {
    if (this.blobs instanceof FolderBlobStore) return this.blobs.pathOf(sha256);
    throw new Error(`the image store is not a folder: ${this.blobs.describe()}`);
  }

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
   * Writes the bytes (once), their row, and that `owner` may read them. Safe to call again for the same bytes, by the
   * same owner or another, on this host or another: the bytes are stored once, each owner is recorded once.
   */
  async save(image: CheckedImage | Omit<CheckedImage, 'sha256'>, owner: string): Promise<Image> {
    const sha256 = 'sha256' in image ? image.sha256 : createHash('sha256').update(image.bytes).digest('hex');
    return this.store(sha256, image.bytes, image, owner);
  }

  /**
   * Stores bytes that are not an image (an engine checkpoint, CHECKPOINT_MIME), owned like an image and read back
   * with read(id), but not decoded, not found by find() and never served by the image route.
   */
  async saveObject(bytes: Uint8Array, info: ObjectInfo, owner: string): Promise<Image> {
    if (info.mime.startsWith(IMAGE_MIME_PREFIX))
      throw new Error(`saveObject stores objects that are not images; ${info.mime} goes through check() and save()`);
    return this.store(createHash('sha256').update(bytes).digest('hex'), bytes, info, owner);
  }

  private async store(sha256: string, bytes: Uint8Array, info: ObjectInfo, owner: string): Promise<Image> {
    await this.writeIfMissing(sha256, bytes, info.mime);
    const { mime, width, height } = info;
    const [row] = await this.db.$transaction([
      // createdAt is when the bytes were last stored: storing them again renews the day an unreferenced image is
      // kept for (src/domain/retention.ts), so an upload of bytes stored long ago is not collected before it is used.
      this.db.image.upsert({
        where: { id: sha256 },
        create: { id: sha256, mime, width, height, bytes: bytes.byteLength },
        update: { createdAt: new Date() },
      }),
      this.db.imageOwner.upsert({
        where: { imageId_owner: { imageId: sha256, owner } },
        create: { imageId: sha256, owner },
        update: {},
      }),
    ]);
    // A collection (storage/image-collector.ts) may have removed the old row and its bytes between the check above
    // and the upsert. The row committed now is fresh, so no collection removes it; the bytes are written again if
    // they went.
    await this.writeIfMissing(sha256, bytes, info.mime);
    return row;
  }

  /** Content addressing: bytes already under their hash are the same bytes, so they are not sent again. */
  private async writeIfMissing(sha256: string, bytes: Uint8Array, mime: string): Promise<void> {
    if (!(await this.blobs.has(sha256))) await this.blobs.put(sha256, bytes, mime);
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

  /**
   * The row of a stored image that one of `owners` may read (anyone's when omitted: an admin), or null. Objects that
   * are not images (saveObject) are never found here.
   */
  find(sha256: string, owners?: readonly string[]): Promise<Image | null> {
    const readable = owners ? { owners: { some: { owner: { in: [...owners] } } } } : {};
    return this.db.image.findFirst({ where: { id: sha256, mime: { startsWith: IMAGE_MIME_PREFIX }, ...readable } });
  }

  /** The stored bytes of an image or an object. */
  async read(sha256: string): Promise<Uint8Array> {
    return this.blobs.get(sha256);
  }
}
