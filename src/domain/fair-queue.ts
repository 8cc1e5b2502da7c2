// The order queued runs start in, fair across owners: the next run goes to the owner with the fewest runs in
// progress, and among those to the oldest queued. One owner's fifty runs therefore do not hold another's one behind
// them, and each owner's own runs keep their order.

export interface QueuedRun {
  id: string;
  owner: string;
  queuedAt: Date;
}

function older(a: QueuedRun, b: QueuedRun): boolean {
  const byTime = a.queuedAt.getTime() - b.queuedAt.getTime();
  return byTime < 0 || (byTime === 0 && a.id < b.id);
}

/**
 * Every queued run in the order it will start if nothing else is queued or finishes: each pick is the oldest run of
 * the owners with the fewest in progress, counting the runs running now and those picked before it. Positions read
 * from this order are true under that rule; they are recomputed whenever the queue or the running set changes.
 */
export function startOrder(queued: readonly QueuedRun[], running: ReadonlyMap<string, number>): QueuedRun[] {
  const byOwner = new Map<string, QueuedRun[]>();
  for (const run of queued) {
    const list = byOwner.get(run.owner);
    if (list) list.push(run);
    else byOwner.set(run.owner, [run]);
  }
  for (const list of byOwner.values()) list.sort((a, b) => (older(a, b) ? -1 : older(b, a) ? 1 : 0));
  const inProgress = new Map([...byOwner.keys()].map((owner) => [owner, running.get(owner) ?? 0]));
  const order: QueuedRun[] = [];
  while (order.length < queued.length) {
    let best: QueuedRun | undefined;
    for (const [owner, list] of byOwner) {
      const head = list[0];
      if (!head) continue;
      const fewer = best === undefined || inProgress.get(owner)! < inProgress.get(best.owner)!;
      const tied = best !== undefined && inProgress.get(owner) === inProgress.get(best.owner);
      if (fewer || (tied && older(head, best!))) best = head;
    }
    byOwner.get(best!.owner)!.shift();
    inProgress.set(best!.owner, inProgress.get(best!.owner)! + 1);
    order.push(best!);
  }
  return order;
}
