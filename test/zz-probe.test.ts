import sharp from 'sharp';
import { it } from 'vitest';
import { startTestServer, gql, START_TRANSFER, RUN_EVENTS, subscribeAll, wsClient } from './helpers/server.js';
it('probe', async () => {
  const server = await startTestServer();
  const models = new Map<string, string>();
  for (const m of (await gql(server.url, `{ styleModels { id name architecture } }`)).data!.styleModels) models.set(m.name, m.id);
  for (const [w, h] of [[4000, 1], [1, 300], [300, 5]]) {
    const png = await sharp({ create: { width: w, height: h, channels: 3, background: '#345' } }).png().toBuffer();
    const up = await fetch(`${server.url}/images`, { method: 'POST', body: new Blob([new Uint8Array(png)]) });
    const id = ((await up.json()) as { id: string }).id;
    for (const name of ['mosaic', 'scream', 'udnie', 'candy']) {
      if (!models.has(name)) continue;
      for (const size of [64, undefined]) {
        const started = await gql(server.url, START_TRANSFER, { input: { contentImageId: id, styleModelId: models.get(name), fastParams: size ? { size } : {} } });
        const run = started.data!.startTransfer;
        if (run.__typename !== 'Run') { console.log(w, h, name, size, JSON.stringify(run)); continue; }
        const events = await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: run.id });
        const end = events.at(-1)!.data!.runEvents;
        console.log(w, h, name, size, end.status, JSON.stringify(end.run.result), JSON.stringify(end.run.error));
      }
    }
  }
  console.log([...models.keys()].join(','));
  await server.stop();
});
