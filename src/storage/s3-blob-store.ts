// A BlobStore in an S3-compatible bucket: <prefix>/<sha256>, objects moved aside by a collection under
// <prefix>/.trash/. S3 replaces an object whole on every PUT, so putting a key again (same key, same bytes) is
// harmless to a concurrent reader; the image store asks HEAD first and skips the upload when the object is there,
// and the PUT itself is conditional (If-None-Match: *) where the server supports it.
//
// Checksums: the SDK (since 3.729) adds CRC32 checksums to every upload (as aws-chunked trailers for streamed
// bodies) and validates them on downloads by default. Several S3-compatible servers (older MinIO, Ceph RGW, some
// R2 operations) reject those headers or store the chunk framing as the object, so checksums are sent and checked
// only where the S3 API requires them (WHEN_REQUIRED). Integrity does not depend on them: the key is the SHA-256 of
// the bytes, and bodies are sent whole (never streamed), so no chunked encoding is involved. (s3rver, in the tests,
// happens to accept both settings: it ignores the checksum headers.)
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { asideName, assertKey, BlobNotFoundError, BlobStoreError, type BlobStore, type S3Spec } from './blob-store.js';

/** A start-up check against an endpoint that does not answer fails in seconds, not minutes. */
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 60_000;

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

const isNotFound = (error: unknown) =>
  statusOf(error) === 404 || (error instanceof S3ServiceException && /^(NotFound|NoSuchKey)$/.test(error.name));

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  private readonly prefix: string;

  constructor(readonly spec: S3Spec) {
    this.prefix = spec.prefix ? `${spec.prefix}/` : '';
    this.client = new S3Client({
      region: spec.region,
      ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
      forcePathStyle: spec.addressing === 'path',
      ...(spec.credentials ? { credentials: spec.credentials } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    });
  }

  /** The object name of `key` in the bucket. */
  objectKey(key: string): string {
    assertKey(key);
    return `${this.prefix}${key}`;
  }

  private asideKey(aside: string): string {
    if (!/^[0-9a-f]{64}\.\d+\.[0-9a-z]+$/.test(aside)) throw new Error(`not an aside name: ${JSON.stringify(aside)}`);
    return `${this.prefix}.trash/${aside}`;
  }

  describe(): string {
    const where = this.spec.endpoint ? ` at ${this.spec.endpoint}` : ` in ${this.spec.region}`;
    return `s3://${this.spec.bucket}/${this.spec.prefix}${where} (${this.spec.addressing}-style)`;
  }

  async open(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.spec.bucket }));
    } catch (error) {
      const status = statusOf(error);
      const why =
        status === 404
          ? 'the bucket does not exist (create it first)'
          : status === 403 || status === 401
            ? 'access denied: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy'
            : status === 301 || status === 400
              ? `the endpoint refused the request (HTTP ${status}): check AWS_REGION and IMAGE_STORE_ADDRESSING`
              : `the endpoint is unreachable or failed (${(error as Error).message || (error as Error).name}): ` +
                'check AWS_ENDPOINT_URL';
      this.client.destroy();
      throw new BlobStoreError(`IMAGE_STORE: cannot use ${this.describe()}: ${why}`, { cause: error });
    }
  }

  async put(key: string, bytes: Uint8Array, mime: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.spec.bucket,
          Key: this.objectKey(key),
          Body: bytes,
          ContentType: mime,
          ContentLength: bytes.byteLength,
          // Only if absent, where the server supports it (S3, MinIO, R2): the object there has these very bytes.
          // A server that ignores the header replaces the object with the same bytes, whole.
          IfNoneMatch: '*',
        }),
      );
    } catch (error) {
      // 412: there already; 409: another put of the key is in progress (it writes the same bytes).
      const status = statusOf(error);
      if (status !== 412 && status !== 409) throw error;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.spec.bucket, Key: this.objectKey(key) }),
      );
      if (!response.Body) throw new BlobNotFoundError(key, this.describe());
      return await response.Body.transformToByteArray();
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key, this.describe());
      throw error;
    }
  }

  async has(key: string): Promise<boolean> {
    return this.exists(this.objectKey(key));
  }

  private async exists(objectKey: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.spec.bucket, Key: objectKey }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 whether or not the object was there.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.spec.bucket, Key: this.objectKey(key) }));
  }

  /** A copy on the server (no bytes travel), then the delete: S3 has no rename. */
  private async move(from: string, to: string): Promise<boolean> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.spec.bucket,
          Key: to,
          CopySource: `${this.spec.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
        }),
      );
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.spec.bucket, Key: from }));
    return true;
  }

  async moveAside(key: string): Promise<string | null> {
    const aside = asideName(key);
    return (await this.move(this.objectKey(key), this.asideKey(aside))) ? aside : null;
  }

  async restoreAside(aside: string, key: string): Promise<void> {
    await this.move(this.asideKey(aside), this.objectKey(key));
  }

  async deleteAside(aside: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.spec.bucket, Key: this.asideKey(aside) }));
  }

  async listAside(): Promise<string[]> {
    const names: string[] = [];
    const Prefix = `${this.prefix}.trash/`;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.spec.bucket, Prefix, ContinuationToken }),
      );
      for (const object of page.Contents ?? []) if (object.Key) names.push(object.Key.slice(Prefix.length));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return names;
  }

  close(): void {
    this.client.destroy();
  }
}
