// `gramian gc`: one collection now, in the server's own database and image folder (DATA_DIR or DATABASE_URL, as the
// server reads them, and RUN_RETENTION_DAYS): finished runs past retention, then images nothing references that were
// last stored over a day ago. Safe while the server runs on the same data (see storage/image-collector.ts).
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { Retention } from '../domain/retention.js';
import { openDatabase } from '../storage/db.js';
import { openBlobStore, type BlobStore } from '../storage/blob-store.js';
import { ImageCollector } from '../storage/image-collector.js';
import { ImageStore } from '../storage/image-store.js';
import { formatBytes } from './progress.js';

export const GC_USAGE = `gc options (the server's data: DATA_DIR or DATABASE_URL, and RUN_RETENTION_DAYS, as the
server reads them; safe while the server runs):
  --json                      print what was removed and what is stored as JSON`;

/** `gramian gc [--json]`. */
export async function gcCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: { json: { type: 'boolean' } } });
  const config = loadConfig();
  const database = await openDatabase(config.databaseUrl);
  let collector: ImageCollector | undefined;
  let blobs: BlobStore | undefined;
  try {
    const limits = { maxBytes: config.maxUploadBytes, maxPixels: config.maxImagePixels };
    blobs = await openBlobStore(config.imageStore, config.dataDir);
    const images = new ImageStore(database.prisma, blobs, limits);
    collector = await ImageCollector.open(database, images);
    const retention = new Retention({
      db: database.prisma,
      collector,
      ...(config.runRetentionDays ? { runRetentionDays: config.runRetentionDays } : {}),
    });
    const removed = await retention.collect();
    const stored = await retention.storage();
    if (values.json) {
      const { lastCollection: _last, nextCollectionAt: _next, ...storage } = stored;
      console.log(JSON.stringify({ removed, storage }, null, 2));
      return;
    }
    const days = config.runRetentionDays;
    console.log(
      days === undefined
        ? 'removed 0 runs (RUN_RETENTION_DAYS is not set: finished runs are kept)'
        : `removed ${removed.runs} runs (finished over ${days} days ago)`,
    );
    console.log(`removed ${removed.images} images, ${removed.bytes} bytes (${formatBytes(removed.bytes)})`);
    console.log(
      `stored: ${stored.images} images, ${stored.bytes} bytes (${formatBytes(stored.bytes)}), ${stored.runs} runs`,
    );
    if (stored.unreferencedImages > 0)
      console.log(
        `kept for now: ${stored.unreferencedImages} unreferenced images stored within the last day ` +
          `(${formatBytes(stored.unreferencedBytes)}), removed a day after they were stored`,
      );
  } finally {
    await collector?.close();
    await database.close();
    blobs?.close();
  }
}
