// A limit on mutations per principal (RATE_LIMIT_MUTATIONS a minute), over HTTP and graphql-ws alike: an envelop
// plugin on execute, where the operation's type is known. Queries and subscriptions are not limited: they change
// nothing, and the query limits bound what one can cost. Admins are limited too: a runaway script with an admin key
// is what a limit is for, and an admin who needs more raises the limit or sets it to 0.
import { GraphQLError, OperationTypeNode, getOperationAST, type ExecutionArgs } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestErrorCode } from '../errors.js';
import type { Context } from '../schema/context.js';

const MINUTE_MS = 60_000;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, monotonic). */
  at: number;
}

/**
 * A token bucket per key: it holds up to `perMinute` tokens (a burst of a minute's worth), refills at `perMinute` a
 * minute, and each mutation takes one. In this process's memory: several API nodes each keep their own, so a
 * principal may make up to that many a minute on each node its requests reach.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweptAt: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.sweptAt = now();
  }

  /** Takes a token for `key`: 0 when there was one, else the whole seconds until there is. */
  take(key: string): number {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = this.refilled(bucket, now);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / this.perMinute / 1000));
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) * this.perMinute) / MINUTE_MS);
  }

  /** Once a minute, forgets buckets that are full again (as good as new), so memory follows recent principals. */
  private sweep(now: number): void {
    if (now - this.sweptAt < MINUTE_MS) return;
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets)
      if (this.refilled(bucket, now) >= this.perMinute) this.buckets.delete(key);
  }
}

/** Refuses a mutation over the principal's limit before it runs: RATE_LIMITED, HTTP 429 with Retry-After. */
export function rateLimitPlugin(mutationsPerMinute: number): Plugin<Context> {
  if (mutationsPerMinute === 0) return {};
  const limiter = new RateLimiter(mutationsPerMinute);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      // envelop types the arguments loosely (any), to fit any graphql build.
      const { document, operationName, contextValue } = args as ExecutionArgs & { contextValue: Context };
      if (getOperationAST(document, operationName)?.operation !== OperationTypeNode.MUTATION) return;
      const retryAfter = limiter.take(contextValue.principal.id);
      if (retryAfter === 0) return;
      const message = `more than ${mutationsPerMinute} mutations a minute by this principal: retry in ${retryAfter} s`;
      const extensions = {
        code: 'RATE_LIMITED' satisfies RequestErrorCode,
        // For graphql-ws clients, which see no headers.
        retryAfterSeconds: retryAfter,
        http: { status: 429, headers: { 'Retry-After': String(retryAfter) } },
      };
      setResultAndStopExecution({ errors: [new GraphQLError(message, { extensions })] });
    },
  };
}
