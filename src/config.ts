// Server configuration from the environment, checked once at start with a message that says what is wrong.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUTH_MODES, isAuthMode, type AuthMode } from './auth/authenticator.js';
import type { JwtConfig } from './auth/jwt.js';
import { BACKEND_CHOICES, LIMITS, MAX_OUTPUT_SIDE, type BackendChoice } from './engine/index.js';
import { readBlobStoreSpec, type BlobStoreSpec } from './storage/blob-store.js';
import { isPostgresUrl } from './storage/database-url.js';

export interface Config {
  port: number;
  /** The address to listen on; loopback by default, where `auth: 'auto'` needs no credentials. */
  host: string;
  /** GRAMIAN_AUTH: auto (credentials unless on loopback), keys (always), off (never). */
  auth: AuthMode;
  /** Tokens from an identity provider: AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE (all three or none). */
  jwt?: JwtConfig;
  /** Folder for the default database and the image store. */
  dataDir: string;
  /** Prisma-style SQLite URL (file:…) or PostgreSQL URL (postgresql://…). */
  databaseUrl: string;
  /** IMAGE_STORE: where image bytes live, a folder (default DATA_DIR/images) or s3://bucket/prefix (blob-store.ts). */
  imageStore: BlobStoreSpec;
  /** The folder of a folder IMAGE_STORE; DATA_DIR/images when the store is S3 (unused then). */
  imagesDir: string;
  backend: BackendChoice | 'auto';
  /** VGG19 weights folder (else the user cache). */
  weightsDir?: string;
  /** Folder of pretrained style models laid out like their publishers' repositories (GRAMIAN_MODELS). */
  modelsFolder?: string;
  /** The only folder importStyleModel reads model files from (GRAMIAN_IMPORT_DIR; default DATA_DIR/imports). */
  importDir: string;
  /** Fetch VGG19 and catalogue style models on first use when missing. */
  allowWeightsDownload: boolean;
  engineWorkers: number;
  /** Wasm threads per engine worker (default: cores / workers). */
  wasmThreads?: number;
  /** Largest accepted upload in bytes. */
  maxUploadBytes: number;
  /** Largest accepted upload in pixels (width × height). */
  maxImagePixels: number;
  /** GraphQL query depth and cost limits. */
  maxQueryDepth: number;
  maxQueryCost: number;
  /** The most aliased fields in one operation (MAX_QUERY_ALIASES). */
  maxQueryAliases: number;
  /** Mutations per minute per principal, in bursts up to that many; 0: no limit (RATE_LIMIT_MUTATIONS). */
  rateLimitMutations: number;
  /** The most runs one non-admin owner may have queued (MAX_QUEUED_RUNS_PER_OWNER). */
  maxQueuedRunsPerOwner: number;
  /** The most work one run of a non-admin may take, in pixel-steps (MAX_RUN_WORK; see domain/run-work.ts). */
  maxRunWork: number;
  /** The longest output side a transfer may ask for, whole or tiled (MAX_OUTPUT_SIDE; at most the engine's). */
  maxOutputSide: number;
  /** How long shutdown waits for running steps to checkpoint. */
  shutdownTimeoutMs: number;
  /** RUN_RETENTION_DAYS: finished runs are deleted this many days after they ended (unset: kept; see retention.ts). */
  runRetentionDays?: number;
  /** GC_INTERVAL_SECONDS: how often the server deletes unreferenced images and expired runs; 0: only `gramian gc`. */
  gcIntervalSeconds: number;
  /** The built web page served at / (CLIENT_DIR). */
  clientDir: string;
  /** CORS_ORIGINS: the other origins whose pages may call this server from a browser (none: same origin only). */
  corsOrigins: string[];
  /** What this process does: serve the API, run the engine's jobs, or both (GRAMIAN_ROLE; `serve --role`). */
  role: Role;
  /** REDIS_URL: jobs, events and cancels go through Redis (with PostgreSQL); unset: the embedded, in-process mode. */
  redisUrl?: string;
  /** REDIS_PREFIX: the prefix of every Redis key and channel, so that several deployments can share one Redis. */
  redisPrefix: string;
  /** CHECKPOINT_EVERY: a running Gatys run saves a checkpoint every this many steps (0: only when stopped). */
  checkpointEvery?: number;
  /** JOB_LOCK_MS: how long a worker's hold on a job lasts without renewal; a killed worker's job moves on after it. */
  jobLockMs: number;
}

export const ROLES = ['all', 'api', 'worker'] as const;
export type Role = (typeof ROLES)[number];

/** Where `npm run build:client` writes the page, from the repository root (not the working directory). */
const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../client-example/web/dist', import.meta.url));

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads the configuration; every problem is reported at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${raw} must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const dataDir = path.resolve(env.DATA_DIR || 'data');
  const databaseUrl = env.DATABASE_URL || `file:${path.join(dataDir, 'gramian.db')}`;
  if (!databaseUrl.startsWith('file:') && !isPostgresUrl(databaseUrl))
    problems.push(
      `DATABASE_URL=${databaseUrl} must be a SQLite file URL such as file:./data/gramian.db or a PostgreSQL URL ` +
        'such as postgresql://user@host:5432/gramian',
    );
  const backend = env.GRAMIAN_BACKEND || 'auto';
  if (backend !== 'auto' && !(BACKEND_CHOICES as readonly string[]).includes(backend)) {
    problems.push(`GRAMIAN_BACKEND=${backend} is not one of auto, ${BACKEND_CHOICES.join(', ')}`);
  }
  const download = env.GRAMIAN_WEIGHTS_DOWNLOAD ?? 'true';
  if (!['true', 'false'].includes(download))
    problems.push(`GRAMIAN_WEIGHTS_DOWNLOAD=${download} must be true or false`);
  const auth = env.GRAMIAN_AUTH || 'auto';
  if (!isAuthMode(auth)) problems.push(`GRAMIAN_AUTH=${auth} is not one of ${AUTH_MODES.join(', ')}`);
  const jwt = readJwtConfig(env, problems);
  const imageStore = readBlobStoreSpec(env, dataDir, problems);
  const config: Config = {
    port: integer('PORT', 4000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    auth: auth as AuthMode,
    ...(jwt ? { jwt } : {}),
    dataDir,
    databaseUrl,
    imageStore: imageStore ?? { kind: 'folder', root: path.join(dataDir, 'images') },
    imagesDir: imageStore?.kind === 'folder' ? imageStore.root : path.join(dataDir, 'images'),
    backend: backend as Config['backend'],
    ...(env.GRAMIAN_WEIGHTS ? { weightsDir: path.resolve(env.GRAMIAN_WEIGHTS) } : {}),
    ...(env.GRAMIAN_MODELS ? { modelsFolder: path.resolve(env.GRAMIAN_MODELS) } : {}),
    importDir: path.resolve(env.GRAMIAN_IMPORT_DIR || path.join(dataDir, 'imports')),
    allowWeightsDownload: download === 'true',
    engineWorkers: integer('GRAMIAN_WORKERS', 1, 1, Math.max(1, os.availableParallelism())),
    ...(env.GRAMIAN_WASM_THREADS ? { wasmThreads: integer('GRAMIAN_WASM_THREADS', 1, 1, 64) } : {}),
    maxUploadBytes: integer('MAX_UPLOAD_BYTES', 20 * 1024 * 1024, 1024, 1024 ** 3),
    maxImagePixels: integer('MAX_IMAGE_PIXELS', 40_000_000, 1024, 1_000_000_000),
    maxQueryDepth: integer('MAX_QUERY_DEPTH', 12, 2, 100),
    maxQueryCost: integer('MAX_QUERY_COST', 20_000, 100, 10_000_000),
    maxQueryAliases: integer('MAX_QUERY_ALIASES', 15, 0, 1000),
    rateLimitMutations: integer('RATE_LIMIT_MUTATIONS', 120, 0, 1_000_000),
    maxQueuedRunsPerOwner: integer('MAX_QUEUED_RUNS_PER_OWNER', 20, 1, 1_000_000),
    // The built-in presets at their largest, High quality (768 px over 3 scales, 200 steps each), are 155M.
    maxRunWork: integer('MAX_RUN_WORK', 250_000_000, 1024, Number.MAX_SAFE_INTEGER),
    maxOutputSide: integer('MAX_OUTPUT_SIDE', MAX_OUTPUT_SIDE, LIMITS.size.min, MAX_OUTPUT_SIDE),
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', 30_000, 0, 600_000),
    ...(env.RUN_RETENTION_DAYS ? { runRetentionDays: integer('RUN_RETENTION_DAYS', 1, 1, 36_500) } : {}),
    gcIntervalSeconds: integer('GC_INTERVAL_SECONDS', 3600, 0, 7 * 86_400),
    clientDir: env.CLIENT_DIR ? path.resolve(env.CLIENT_DIR) : DEFAULT_CLIENT_DIR,
    corsOrigins: readCorsOrigins(env, problems),
    ...readClusterConfig(env, databaseUrl, problems),
    jobLockMs: integer('JOB_LOCK_MS', 30_000, 1000, 600_000),
    ...(env.CHECKPOINT_EVERY ? { checkpointEvery: integer('CHECKPOINT_EVERY', 0, 0, 1_000_000) } : {}),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** CORS_ORIGINS, comma-separated origins (scheme, host and port, no path) such as https://app.example.com. */
function readCorsOrigins(env: Env, problems: string[]): string[] {
  const origins: string[] = [];
  for (const entry of (env.CORS_ORIGINS ?? '').split(',')) {
    const raw = entry.trim();
    if (!raw) continue;
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    const isOrigin =
      url &&
      (url.protocol === 'https:' || url.protocol === 'http:') &&
      url.pathname === '/' &&
      !url.search &&
      !url.hash &&
      !url.username &&
      !url.password &&
      !raw.includes('*');
    // As browsers send it in Origin: lower case, no default port, no trailing slash.
    if (url && isOrigin) origins.push(url.origin);
    else
      problems.push(
        `CORS_ORIGINS entry ${raw} must be an origin such as https://app.example.com (http or https, host and ` +
          'port, no path; no wildcard: list each origin)',
      );
  }
  return origins;
}

/** The identity provider's settings: none, or all three with an http(s) key set URL. */
function readJwtConfig(env: Env, problems: string[]): JwtConfig | undefined {
  const jwksUrl = env.AUTH_JWKS_URL || undefined;
  const issuer = env.AUTH_ISSUER || undefined;
  const audience = env.AUTH_AUDIENCE || undefined;
  if (!jwksUrl) {
    const orphans = ['AUTH_ISSUER', 'AUTH_AUDIENCE'].filter((name) => env[name]);
    if (orphans.length > 0)
      problems.push(
        `${orphans.join(' and ')} ${orphans.length > 1 ? 'need' : 'needs'} AUTH_JWKS_URL (the identity provider's ` +
          'key set) to be set too',
      );
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(jwksUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    problems.push(`AUTH_JWKS_URL=${jwksUrl} must be an http(s) URL such as https://idp.example/.well-known/jwks.json`);
  if (!issuer) problems.push('AUTH_ISSUER is required with AUTH_JWKS_URL: the issuer (iss) tokens must name');
  if (!audience) problems.push('AUTH_AUDIENCE is required with AUTH_JWKS_URL: the audience (aud) tokens must name');
  return url && issuer && audience ? { jwksUrl: url.href, issuer, audience } : undefined;
}

/**
 * The role and Redis: the embedded mode (no REDIS_URL, role all) keeps everything in one process; a cluster shares
 * PostgreSQL, Redis and an image store every node reaches, so each is checked here rather than failing later.
 */
function readClusterConfig(
  env: Env,
  databaseUrl: string,
  problems: string[],
): { role: Role; redisUrl?: string; redisPrefix: string } {
  const role = env.GRAMIAN_ROLE || 'all';
  if (!(ROLES as readonly string[]).includes(role))
    problems.push(`GRAMIAN_ROLE=${role} is not one of ${ROLES.join(', ')}`);
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    problems.push(`REDIS_URL=${redisUrl} must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379`);
  const sqlite = databaseUrl.startsWith('file:');
  if (redisUrl && sqlite)
    problems.push(
      `REDIS_URL is set but DATABASE_URL is a SQLite file: nodes that share Redis must share a database too; set ` +
        'DATABASE_URL=postgresql://… (or unset REDIS_URL for the embedded mode)',
    );
  if (role !== 'all' && !redisUrl)
    problems.push(
      `GRAMIAN_ROLE=${role} needs REDIS_URL and a PostgreSQL DATABASE_URL: API nodes and workers meet through them`,
    );
  if (role === 'worker' && !env.IMAGE_STORE)
    problems.push(
      'GRAMIAN_ROLE=worker needs IMAGE_STORE, an image store every node reaches: s3://bucket/prefix, or a folder ' +
        'on a volume the API nodes share',
    );
  const redisPrefix = env.REDIS_PREFIX || 'gramian';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(redisPrefix))
    problems.push(`REDIS_PREFIX=${redisPrefix} must be 1-64 letters, digits, or _ . : -`);
  return { role: role as Role, ...(redisUrl ? { redisUrl } : {}), redisPrefix };
}
