// The event target of the cluster's pub/sub: graphql-yoga's Redis event target (each topic a Redis channel, each
// event JSON), with the deployment's prefix in front of every channel so that deployments can share one Redis.
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { Redis } from 'ioredis';

type Listener = Parameters<EventTarget['addEventListener']>[1];

export function prefixedRedisEventTarget(publishClient: Redis, subscribeClient: Redis, prefix: string): EventTarget {
  const inner = createRedisEventTarget({ publishClient, subscribeClient });
  const channel = (type: string) => `${prefix}:events:${type}`;
  // Listeners get the inner event, whose type is the prefixed channel: the pub/sub only reads its detail.
  const target: Pick<EventTarget, 'addEventListener' | 'removeEventListener' | 'dispatchEvent'> = {
    addEventListener: (type: string, listener: Listener) => inner.addEventListener(channel(type), listener as never),
    removeEventListener: (type: string, listener: Listener) =>
      inner.removeEventListener(channel(type), listener as never),
    dispatchEvent: (event: Event) =>
      inner.dispatchEvent(new CustomEvent(channel(event.type), { detail: (event as CustomEvent<unknown>).detail })),
  };
  return target;
}
