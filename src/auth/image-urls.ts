// Image URLs that carry their own permission: GraphQL hands out `/images/<sha256>?exp=…&sig=…`, an HMAC of the image
// and an expiry under a key every node shares, so `<img src>` works in a browser without a header, and a URL stops
// working when it expires. Expiries are rounded up to a window, so a page re-read within it gets the same URLs and
// the browser's cache keeps working.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../storage/db.js';

/** The ServerSecret row the key lives in. */
const SECRET_NAME = 'image-urls';

export interface ImageUrlOptions {
  /**
   * Whether URLs are signed: where credentials are needed. Elsewhere (the local user) a plain URL reads the image
   * and stays the same forever, as the bytes do.
   */
  sign: boolean;
  /** How long a URL stays valid at least, in seconds. */
  ttlSeconds: number;
  /** Expiries are rounded up to a multiple of this, in seconds. */
  windowSeconds?: number;
}

export class ImageUrls {
  private constructor(
    private readonly key: Buffer,
    private readonly options: Required<ImageUrlOptions>,
  ) {}

  /** Reads the shared key, making it on first start (the first node to write it wins; the others read it). */
  static async load(db: Db, options: ImageUrlOptions): Promise<ImageUrls> {
    const made = randomBytes(32).toString('base64url');
    await db.serverSecret
      .upsert({ where: { name: SECRET_NAME }, create: { name: SECRET_NAME, value: made }, update: {} })
      .catch((error: { code?: string }) => {
        // Two nodes starting at once on PostgreSQL: the other one's insert won (its key is read below).
        if (error.code !== 'P2002') throw error;
      });
    const { value } = await db.serverSecret.findUniqueOrThrow({ where: { name: SECRET_NAME } });
    const windowSeconds = options.windowSeconds ?? Math.max(1, Math.floor(options.ttlSeconds / 6));
    return new ImageUrls(Buffer.from(value, 'base64url'), { ...options, windowSeconds });
  }

  /** The path of an image, signed until at least ttlSeconds from `now` (when signing). */
  url(sha256: string, now = Date.now()): string {
    const { sign, ttlSeconds, windowSeconds } = this.options;
    if (!sign) return `/images/${sha256}`;
    const expires = Math.ceil((now / 1000 + ttlSeconds) / windowSeconds) * windowSeconds;
    return `/images/${sha256}?exp=${expires}&sig=${this.signature(sha256, expires)}`;
  }

  /**
   * Whether a URL's `exp` and `sig` let it read this image now: 'valid', or why not. A URL for another image, with
   * a changed expiry or from another server's key fails its signature.
   */
  check(
    sha256: string,
    exp: string | null,
    sig: string | null,
    now = Date.now(),
  ): 'valid' | 'unsigned' | 'expired' | 'forged' {
    if (exp === null || sig === null) return 'unsigned';
    const expires = Number(exp);
    if (!/^\d{1,12}$/.test(exp) || !/^[\w-]{43}$/.test(sig)) return 'forged';
    const expected = Buffer.from(this.signature(sha256, expires));
    if (!timingSafeEqual(expected, Buffer.from(sig))) return 'forged';
    return expires * 1000 < now ? 'expired' : 'valid';
  }

  /** Seconds until a valid URL expires, for its Cache-Control. */
  secondsLeft(exp: string, now = Date.now()): number {
    return Math.max(0, Math.floor(Number(exp) - now / 1000));
  }

  private signature(sha256: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${sha256}.${expires}`).digest('base64url');
  }
}
