// Removing images that nothing references: their rows and their files, safely beside everything else that touches
// them at the same time (uploads, new runs and styles naming stored images, a server and a `gramian gc` on the same
// database and folder). What to remove and when is src/domain/retention.ts; this file is how.
//
// The rules that keep a referenced image intact:
// - The database decides. One DELETE removes only rows no other row names at that moment (the query's own NOT IN,
//   as some foreign keys would null a reference instead of refusing: Run.resultImageId, Run.checkpointImageId and
//   StyleModel.previewImageId are ON DELETE SET NULL). A row that names an image is written against the image's
//   foreign key: if the collection removed the image first, that write fails and writes nothing
//   (ImageStore.referencing turns the failure into NOT_FOUND).
// - Files go only with their rows, in the same write transaction: the delete and the move of each file aside (into
//   .trash, a rename) happen while this connection holds the write lock (SQLite's, or on PostgreSQL its lock on the
//   Image table), and the files are unlinked after the commit. ImageStore.save writes the file before the row, then
//   checks the file again once its row is committed: a row committed before this transaction is fresh and not
//   removed; one committed after it finds its file moved and writes it again. A rollback (or a failed commit) moves
//   the files back. Nothing sweeps the folder: a file is removed only when this code removed its row.
// - An object store (S3) cannot move objects inside a SQLite transaction, as nothing may wait there: the rows go
//   first, then each object is moved aside (a copy on the server and a delete), then its row is looked for again. A
//   save that committed its row before that look finds it put back; one that commits after it finds the object gone
//   and writes it again (ImageStore.save checks after its commit). What a crash between the commit and the move
//   leaves is an object no row names, never a row without its object.
// - The rows are the database's: storage/image-rows-sqlite.ts (a synchronous transaction on a connection of its own
//   that never waits for the lock) and storage/image-rows-postgres.ts (a transaction that first locks the Image table
//   against every write naming an image, so its DELETE sees them all, as on SQLite).
import type { OpenDatabase } from './db.js';
import type { ImageRows, ImageTotals, ReapParameters } from './image-rows.js';
import { PostgresImageRows } from './image-rows-postgres.js';
import { SqliteImageRows } from './image-rows-sqlite.js';
import { parseAsideName, type BlobStore } from './blob-store.js';
import { FolderBlobStore } from './folder-blob-store.js';

export type { ImageReference, ImageTotals } from './image-rows.js';

/** What a collection removed. */
export interface Reaped {
  images: number;
  bytes: number;
  /** The ids (SHA-256) of the removed images. */
  ids: string[];
}

export interface ReapOptions {
  /** Only images stored (Image.createdAt: saved last) before this instant. */
  storedBefore: Date;
  /** Only these images (e.g. a deleted run's); all when omitted. */
  ids?: readonly string[];
  /** Checked between batches: a stopping server ends the pass early. */
  shouldStop?: () => boolean;
}

/** Images removed per write transaction: the lock is held for milliseconds at a time. */
const BATCH = 200;
/** A file left in .trash this long ago belongs to no transaction in progress (see recoverTrash). */
const STALE_TRASH_MS = 10 * 60_000;
export class ImageCollector {
  private readonly rows: ImageRows;

  /**
   * `database`: the (migrated) database, or a SQLite file's path; its rows are read and deleted on a connection of the
   * collector's own, which close() closes. `images`: where the bytes are (an ImageStore's BlobStore). On PostgreSQL
   * the columns that name an image are read at the first collection; open() reads them at once.
   */
  constructor(
    database: OpenDatabase | ImageRows | string,
    private readonly images: { blobs: BlobStore },
  ) {
    if (typeof database === 'string') this.rows = new SqliteImageRows(database);
    else if (!('kind' in database)) this.rows = database;
    else if (database.kind === 'postgresql') this.rows = new PostgresImageRows(database.url);
    else this.rows = new SqliteImageRows(database.file);
  }

  /** A collector (see the constructor) that has read which columns name an image: refused when none does. */
  static async open(database: OpenDatabase, images: { blobs: BlobStore }): Promise<ImageCollector> {
    const collector = new ImageCollector(database, images);
    if (collector.rows instanceof PostgresImageRows) {
      try {
        await collector.rows.load();
      } catch (error) {
        await collector.close();
        throw error;
      }
    }
    return collector;
  }

  /**
   * Every column that names an image, from the schema itself, so a table added later that references images keeps
   * them alive without a change here. Opening refuses a database where it finds none (one it does not know).
   */
  get references() {
    return this.rows.references;
  }

  /** Removes the unreferenced images that match, rows and files, in batches; see the rules at the top. */
  async reap(options: ReapOptions): Promise<Reaped> {
    const reaped: Reaped = { images: 0, bytes: 0, ids: [] };
    if (options.ids && options.ids.length === 0) return reaped;
    const parameters: ReapParameters = {
      storedBefore: options.storedBefore,
      ids: options.ids ? [...new Set(options.ids)] : null,
    };
    for (;;) {
      const { blobs } = this.images;
      const folder = blobs instanceof FolderBlobStore ? blobs : undefined;
      const batch = await this.reapBatch(parameters, folder);
      // After the commit: the rows are gone for good, so are the files.
      await Promise.all(batch.aside.map((aside) => blobs.deleteAside(aside)));
      if (!folder) await Promise.all(batch.rows.map(({ id }) => this.removeObject(blobs, id)));
      reaped.images += batch.rows.length;
      for (const row of batch.rows) {
        reaped.bytes += row.bytes;
        reaped.ids.push(row.id);
      }
      if (batch.rows.length < BATCH || options.shouldStop?.()) return reaped;
    }
  }

  /**
   * One write transaction: delete a batch of rows and, in a folder, move their files aside; all of it, or none of it.
   * Objects elsewhere are moved after the commit (removeObject).
   */
  private async reapBatch(
    parameters: ReapParameters,
    folder: FolderBlobStore | undefined,
  ): Promise<{
    rows: { id: string; bytes: number }[];
    aside: string[];
  }> {
    const moved: { id: string; aside: string }[] = [];
    try {
      // The files move while the rows' transaction is open, before its commit (synchronously: see image-rows-sqlite).
      const rows = await this.rows.deleteBatch(parameters, BATCH, (deleted) => {
        for (const { id } of folder ? deleted : []) {
          // Already gone (removed by hand, or by a pass cut off after its commit): the row goes all the same.
          const aside = folder!.moveAsideSync(id);
          if (aside) moved.push({ id, aside });
        }
      });
      return { rows, aside: moved.map((m) => m.aside) };
    } catch (error) {
      // The rows are back: so are their files.
      for (const { id, aside } of moved.reverse()) folder!.restoreAsideSync(aside, id);
      throw error;
    }
  }

  /** After the commit that removed its row: the object aside, then back if a save wrote the row again meanwhile. */
  private async removeObject(blobs: BlobStore, id: string): Promise<void> {
    const aside = await blobs.moveAside(id);
    if (!aside) return;
    if (await this.rows.exists(id)) await blobs.restoreAside(aside, id);
    else await blobs.deleteAside(aside);
  }

  /** Rows and bytes, from one snapshot so the numbers agree with each other. */
  imageTotals(storedBefore: Date): Promise<ImageTotals> {
    return this.rows.totals(storedBefore);
  }

  /**
   * Files a collection cut off between its move and its commit left in .trash (a crash, a kill): the rollback kept
   * the row, so the file goes back; a file whose row is gone is removed. Only files older than any transaction
   * still in progress (another process's pass moves and commits within milliseconds).
   */
  async recoverTrash(now = Date.now()): Promise<{ restored: number; removed: number }> {
    const counts = { restored: 0, removed: 0 };
    const { blobs } = this.images;
    for (const aside of await blobs.listAside().catch(() => [] as string[])) {
      const parsed = parseAsideName(aside);
      if (!parsed || !(parsed.movedAt < now - STALE_TRASH_MS)) continue;
      if ((await this.rows.exists(parsed.key)) && !(await blobs.has(parsed.key))) {
        await blobs.restoreAside(aside, parsed.key);
        counts.restored++;
      } else {
        await blobs.deleteAside(aside);
        counts.removed++;
      }
    }
    return counts;
  }

  close(): Promise<void> {
    return this.rows.close();
  }
}
