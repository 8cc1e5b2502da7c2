// Where stored bytes live: a folder (the default, or a shared volume) or an S3-compatible bucket, chosen by
// IMAGE_STORE. Keys are SHA-256 hashes of the bytes, so every host that writes a key writes the same bytes: a put is
// idempotent, and two hosts storing one image at once end with one object.
//
// Collections (storage/image-collector.ts) never delete an object outright: they move it aside first and put it back
// if its row came back meanwhile, so the aside operations below are part of the contract.
import path from 'node:path';

export interface BlobStore {
  /** Stores `bytes` under `key`. Safe to repeat and to race: a reader sees the whole object or none. */
  put(key: string, bytes: Uint8Array, mime: string): Promise<void>;
  /** The bytes under `key`; BlobNotFoundError when there are none. */
  get(key: string): Promise<Uint8Array>;
  has(key: string): Promise<boolean>;
  /** Removes `key`; nothing happens when it is not there. */
  delete(key: string): Promise<void>;
  /** Where the store is, for logs and messages (no credentials). */
  describe(): string;
  /** Checks once at start that the store can be used (folder made, bucket reachable); throws BlobStoreError. */
  open(): Promise<void>;
  /** Moves `key` aside under a new aside name (see asideName) and returns that name; null when `key` is not there. */
  moveAside(key: string): Promise<string | null>;
  /** Moves an aside object back to `key`. */
  restoreAside(aside: string, key: string): Promise<void>;
  deleteAside(aside: string): Promise<void>;
  /** The names of every object aside (left by a collection that was cut off). */
  listAside(): Promise<string[]>;
  /** Lets go of connections (an S3 client's sockets). */
  close(): void;
}

/** The store cannot be opened or its spec is wrong: the message says what to change. */
export class BlobStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlobStoreError';
  }
}

export class BlobNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`no object ${key} in ${where}`);
    this.name = 'BlobNotFoundError';
  }
}

const KEY = /^[0-9a-f]{64}$/;

/** Keys are SHA-256 hashes in hex: nothing else reaches a path or an object name. */
export function assertKey(key: string): void {
  if (!KEY.test(key)) throw new Error(`not a blob key (a SHA-256 in hex): ${JSON.stringify(key)}`);
}

/** `<key>.<milliseconds since 1970>.<random>`: what was moved aside, and when. */
export function asideName(key: string, now = Date.now()): string {
  return `${key}.${now}.${Math.random().toString(36).slice(2, 10)}`;
}

export function parseAsideName(name: string): { key: string; movedAt: number } | null {
  const [key = '', movedAt = ''] = name.split('.');
  return KEY.test(key) && /^\d+$/.test(movedAt) ? { key, movedAt: Number(movedAt) } : null;
}

export type Env = Record<string, string | undefined>;

export interface FolderSpec {
  kind: 'folder';
  root: string;
}

/** An S3-compatible bucket, with what the AWS variables said (read from the server's environment). */
export interface S3Spec {
  kind: 's3';
  bucket: string;
  /** Without slashes at either end; '' for the bucket's root. */
  prefix: string;
  /** AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; AWS itself when unset. */
  endpoint?: string;
  region: string;
  /** Bucket in the path (http://host/bucket/key) or in the host name (http://bucket.host/key). */
  addressing: 'path' | 'virtual';
  /** AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the SDK's own chain (profiles, instance roles) when unset. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export type BlobStoreSpec = FolderSpec | S3Spec;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const USAGE = 'a folder path, or s3://bucket/prefix for S3-compatible object storage';

/**
 * Reads IMAGE_STORE (default DATA_DIR/images) and, for s3://, the AWS variables and IMAGE_STORE_ADDRESSING. Every
 * problem is pushed to `problems`, naming its variable; the spec is returned only when there were none.
 */
export function readBlobStoreSpec(env: Env, dataDir: string, problems: string[]): BlobStoreSpec | undefined {
  const raw = env.IMAGE_STORE || path.join(dataDir, 'images');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (!scheme) return { kind: 'folder', root: path.resolve(raw) };
  if (scheme !== 's3') {
    problems.push(`IMAGE_STORE=${raw} must be ${USAGE} (${scheme}:// is not supported)`);
    return undefined;
  }
  const before = problems.length;
  const rest = raw.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
  if (!BUCKET.test(bucket))
    problems.push(
      `IMAGE_STORE=${raw}: "${bucket}" is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens): ` +
        `it must be ${USAGE}`,
    );
  if (prefix.split('/').some((segment) => segment === '..' || segment === '.') || /[?#\\]|\/\//.test(prefix))
    problems.push(`IMAGE_STORE=${raw}: the prefix "${prefix}" must be plain path segments, such as images/prod`);
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    const name = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      problems.push(`${name}=${endpoint} must be an http(s) URL such as https://s3.example.com`);
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined);
  if (!region)
    problems.push(
      `IMAGE_STORE=${raw} needs AWS_REGION (or AWS_DEFAULT_REGION), or AWS_ENDPOINT_URL for S3-compatible storage`,
    );
  const addressing = env.IMAGE_STORE_ADDRESSING || (endpoint ? 'path' : 'virtual');
  if (addressing !== 'path' && addressing !== 'virtual')
    problems.push(`IMAGE_STORE_ADDRESSING=${addressing} must be path or virtual`);
  const accessKeyId = env.AWS_ACCESS_KEY_ID || undefined;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY || undefined;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey))
    problems.push('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for the SDK chain)');
  if (problems.length > before || !region) return undefined;
  return {
    kind: 's3',
    bucket,
    prefix,
    ...(endpoint ? { endpoint } : {}),
    region,
    addressing: addressing as S3Spec['addressing'],
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  };
}

/**
 * The store IMAGE_STORE names (`spec`: its value, or a spec from the configuration), opened and checked: a folder
 * is made, a bucket must answer. Throws BlobStoreError with what to change.
 */
export async function openBlobStore(
  spec: string | BlobStoreSpec | undefined,
  dataDir: string,
  env: Env = process.env,
): Promise<BlobStore> {
  let resolved: BlobStoreSpec | undefined;
  if (typeof spec === 'object') resolved = spec;
  else {
    const problems: string[] = [];
    resolved = readBlobStoreSpec({ ...env, IMAGE_STORE: spec ?? env.IMAGE_STORE }, dataDir, problems);
    if (!resolved) throw new BlobStoreError(problems.join('; '));
  }
  // Loaded only when used: the S3 SDK is large, and a folder store never needs it.
  const store =
    resolved.kind === 'folder'
      ? new (await import('./folder-blob-store.js')).FolderBlobStore(resolved.root)
      : new (await import('./s3-blob-store.js')).S3BlobStore(resolved);
  await store.open();
  return store;
}
