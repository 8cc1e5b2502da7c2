// Reading an engine run (an async iterable of events) to its end in tests.
import { type TransferEvent } from '../../src/engine/index.js';

/** Every event of a run, in order; onEvent sees each as it arrives (to abort or checkpoint mid-run). */
export async function drain(
  run: AsyncIterable<TransferEvent>,
  onEvent: (event: TransferEvent) => void = () => {},
): Promise<TransferEvent[]> {
  const events: TransferEvent[] = [];
  for await (const event of run) {
    events.push(event);
    onEvent(event);
  }
  return events;
}
