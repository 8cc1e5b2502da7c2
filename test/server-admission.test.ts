// Admitting runs while the server stops: a transfer is either refused with nothing written, or stored and queued
// (to run after the restart); never refused but stored. Real server, real SQLite, real image folder.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_PRINCIPAL } from '../src/auth/principal.js';
import { startTransfer } from '../src/domain/transfers.js';
import { UPLOAD_STYLE, footprint, gqlUpload, startTestServer, type TestServer } from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';
import { localId } from '../src/schema/types/ids.js';

let server: TestServer;
let styleId: string;
let content: Uint8Array;

beforeEach(async () => {
  server = await startTestServer();
  const style = await gqlUpload(
    server.url,
    UPLOAD_STYLE,
    { input: { name: 'Scream', image: null } },
    {
      'input.image': { bytes: await readShared(styleImage('the_scream.jpg')) },
    },
  );
  styleId = localId(style.data!.uploadStyle.id as string, 'Style');
  content = await readShared(contentImage('golden_gate.jpg'));
});

afterEach(async () => {
  await server.stop();
});

function transfer() {
  const { db, images, runs, engineInfo, config } = server.services;
  const services = { db, images, runs, backend: engineInfo, maxRunWork: config.maxRunWork };
  return startTransfer(services, LOCAL_PRINCIPAL, {
    content,
    styles: [{ styleId }],
    params: { size: 48, steps: 2 },
  });
}

describe('admitting a run during shutdown', () => {
  it('refuses a transfer whose shutdown began after its first check, leaving nothing written', async () => {
    const before = await footprint(server);
    // startTransfer passes its first check synchronously; the shutdown then begins while it checks the request.
    const pending = transfer();
    const stopping = server.services.runs.shutdown(10_000);
    await expect(pending).rejects.toMatchObject({ code: 'CONFLICT' });
    await stopping;
    expect(await footprint(server)).toEqual(before);
  });

  it('keeps a run whose writing had begun when shutdown began: stored, queued, and waited for', async () => {
    const { runs, db } = server.services;
    let release!: () => void;
    const writing = new Promise<void>((resolve) => (release = resolve));
    let admitted = false;
    const pending = runs.admit({ owner: 'local', exempt: true }, async () => {
      await writing;
      const contentImageId = (await db.image.findFirstOrThrow()).id;
      const stored = await db.run.create({
        data: {
          owner: 'local',
          status: 'QUEUED',
          engine: 'GATYS',
          params: { size: 48, steps: 2 },
          totalSteps: 2,
          contentImageId,
        },
      });
      admitted = true;
      return stored;
    });
    const stopping = runs.shutdown(10_000).then(() => {
      // Shutdown is not over before the admission it waited for.
      expect(admitted).toBe(true);
    });
    release();
    const run = await pending;
    await stopping;
    expect((await db.run.findUniqueOrThrow({ where: { id: run.id } })).status).toBe('QUEUED');
    expect(await runs.position(run.id)).toBe(1);
  });
});
