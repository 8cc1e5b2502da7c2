// The start order of queued runs across owners: fewest in progress first, then oldest queued.
import { describe, expect, it } from 'vitest';
import { inStartOrder, nextRound, startOrder, type QueuedRun, type RoundedRun } from '../src/domain/fair-queue.js';

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

describe('rounds', () => {
  /** Queues runs one after another as the run manager does, each joining the round nextRound gives it. */
  function queueAll(current: number, running: { owner: string; round: number }[], runs: QueuedRun[]): RoundedRun[] {
    const queue: RoundedRun[] = [];
    for (const r of runs) queue.push({ ...r, round: nextRound(r.owner, current, [...queue, ...running]) });
    return queue;
  }

  it('puts bob’s one run before alice’s backlog while her first runs, and keeps that order when it ends', () => {
    const queue = queueAll(
      0,
      [{ owner: 'alice', round: 0 }],
      [run('a1', 'alice', 1), run('a2', 'alice', 2), run('a3', 'alice', 3), run('b0', 'bob', 4)],
    );
    expect(ids(inStartOrder(queue))).toEqual(['b0', 'a1', 'a2', 'a3']);
    // Rounds do not depend on what runs: nothing moves when alice's first run ends, with one worker or more.
    expect(ids(inStartOrder(queue.slice(1)))).toEqual(['b0', 'a2', 'a3']);
  });

  it('lets an owner with nothing in progress join the current round, behind older runs of that round', () => {
    // Round 2 is current (its run started last); alice has runs in rounds 2 and 3 queued, carol one in round 2.
    const queue = [
      { ...run('a2', 'alice', 1), round: 2 },
      { ...run('c2', 'carol', 2), round: 2 },
      { ...run('a3', 'alice', 3), round: 3 },
    ];
    const dave = { ...run('d', 'dave', 9), round: nextRound('dave', 2, queue) };
    expect(dave.round).toBe(2);
    expect(ids(inStartOrder([...queue, dave]))).toEqual(['a2', 'c2', 'd', 'a3']);
    // An owner's next run goes one past its latest, however far ahead the current round is.
    expect(nextRound('alice', 2, queue)).toBe(4);
    expect(nextRound('alice', 7, queue)).toBe(7);
  });
});
