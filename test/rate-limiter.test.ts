// The token bucket behind RATE_LIMIT_MUTATIONS, on a clock the test moves.
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/http/rate-limit.js';

describe('RateLimiter', () => {
  it('allows a minute’s worth at once, then one per 60/n s, each key on its own', () => {
    let now = 0;
    const limiter = new RateLimiter(3, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    // Empty: a token is back 20 s after the last one was taken.
    expect(limiter.take('a')).toBe(20);
    expect(limiter.take('b')).toBe(0);
    now = 15_000;
    expect(limiter.take('a')).toBe(5);
    now = 20_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(20);
    // Refills up to the burst, not beyond.
    now = 10 * 60_000;
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0, 20]);
  });
});
