// What operators and load balancers ask every node: /health (the process answers), /ready (it can do its work now:
// database, Redis in a cluster, the engine on a worker) and /metrics (Prometheus). Not behind credentials: they tell
// nothing of anyone's data; keep them off the public side of a load balancer all the same.
import type http from 'node:http';

/** Each dependency a node needs, and whether it answers now. */
export type ReadinessChecks = Record<string, () => Promise<boolean>>;

export interface OperationsOptions {
  checks: ReadinessChecks;
  metrics: () => Promise<string>;
  log: (message: string) => void;
}

/** Answers /health, /ready and /metrics; false for any other request (left to the caller). */
export function operationsRoute(
  options: OperationsOptions,
): (request: http.IncomingMessage, response: http.ServerResponse) => boolean {
  return (request, response) => {
    const pathname = request.url?.split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    switch (pathname) {
      case '/health':
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return true;
      case '/ready':
        void ready(options.checks).then(({ ok, checks }) => {
          response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ status: ok ? 'ready' : 'not ready', checks }));
        });
        return true;
      case '/metrics':
        options.metrics().then(
          (text) => response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
          (error: Error) => {
            options.log(`metrics: ${error.message}`);
            response.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${error.message}\n`);
          },
        );
        return true;
      default:
        return false;
    }
  };
}

async function ready(checks: ReadinessChecks): Promise<{ ok: boolean; checks: Record<string, boolean> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => [name, await check().catch(() => false)] as const),
  );
  return { ok: entries.every(([, up]) => up), checks: Object.fromEntries(entries) };
}
