// The start order of queued runs across owners: fewest in progress first, then oldest queued.
import { describe, expect, it } from 'vitest';
import { startOrder, type QueuedRun } from '../src/domain/fair-queue.js';

const at = (minute: number) => new Date(Date.UTC(2026, 11, 2, 10, minute));
const run = (id: string, owner: string, minute: number): QueuedRun => ({ id, owner, queuedAt: at(minute) });
const ids = (runs: QueuedRun[]) => runs.map((r) => r.id);

describe('startOrder', () => {
  it('puts one owner’s single run right after the backlog’s first, then alternates while both have runs', () => {
    const backlog = Array.from({ length: 50 }, (_, i) => run(`a${i}`, 'alice', i));
    const order = startOrder([...backlog, run('b0', 'bob', 60)], new Map());
    expect(ids(order).slice(0, 3)).toEqual(['a0', 'b0', 'a1']);
    expect(order).toHaveLength(51);
  });

  it('counts runs in progress: an owner with one running waits behind one with none', () => {
    const queued = [run('a1', 'alice', 1), run('b1', 'bob', 2), run('b2', 'bob', 3)];
    expect(ids(startOrder(queued, new Map([['alice', 1]])))).toEqual(['b1', 'a1', 'b2']);
    expect(ids(startOrder(queued, new Map()))).toEqual(['a1', 'b1', 'b2']);
  });

  it('keeps each owner’s own runs in the order they were queued, ties broken by id', () => {
    const queued = [run('a2', 'alice', 5), run('a1', 'alice', 5), run('a0', 'alice', 1), run('c0', 'carol', 2)];
    const order = ids(startOrder(queued, new Map([['carol', 3]])));
    expect(order).toEqual(['a0', 'a1', 'a2', 'c0']);
  });

  it('is first come, first served with a single owner', () => {
    const queued = [run('x3', 'local', 3), run('x1', 'local', 1), run('x2', 'local', 2)];
    expect(ids(startOrder(queued, new Map([['local', 1]])))).toEqual(['x1', 'x2', 'x3']);
  });
});
