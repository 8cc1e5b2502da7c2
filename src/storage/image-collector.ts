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
//   .trash, a rename) happen while this connection holds SQLite's write lock, and the files are unlinked after the
//   commit. ImageStore.save writes the file before the row, then checks the file again once its row is committed:
//   a row committed before this transaction is fresh and not removed; one committed after it finds its file moved
//   and writes it again. A rollback (or a failed commit) moves the files back. Nothing sweeps the folder: a file is
//   removed only when this code removed its row.
// - The transaction is synchronous, on a connection of its own: in the server's process nothing else runs while it
//   holds the lock, and it never waits for the lock (busy timeout 0, retried after a pause), so it cannot block the
//   event loop behind the server's own connection.
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';

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

/** Image rows and bytes, as the database counts them (each row has one file of that size). */
export interface ImageTotals {
  images: number;
  bytes: number;
  unreferencedImages: number;
  unreferencedBytes: number;
  /** Unreferenced and stored before the cut-off given: what a collection now would remove. */
  reclaimableImages: number;
  reclaimableBytes: number;
  /** When the unreferenced image stored longest ago was stored. */
  oldestUnreferencedAt: Date | null;
}

/** A column that names an image, found in the database's own foreign keys. */
export interface ImageReference {
  table: string;
  column: string;
}

/** Images removed per write transaction: the lock is held for milliseconds at a time. */
const BATCH = 200;
/** How often and how long to try again for the write lock (another connection's transaction is short). */
const BUSY_PAUSE_MS = 20;
const BUSY_ATTEMPTS = 1500;
/** A file left in .trash this long ago belongs to no transaction in progress (see recoverTrash). */
const STALE_TRASH_MS = 10 * 60_000;
/** ImageOwner only says who may read an image; it goes with the image (ON DELETE CASCADE) and keeps nothing alive. */
const NOT_REFERENCES = new Set(['ImageOwner']);

/** Milliseconds since 1970 of a DateTime column, whichever way it was stored (Prisma's ISO text, or a number). */
function millisOf(column: string): string {
  return (
    `(CASE typeof(${column}) WHEN 'text' THEN ` +
    `CAST(round((julianday(${column}) - 2440587.5) * 86400000.0) AS INTEGER) ELSE ${column} END)`
  );
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ImageCollector {
  private readonly sqlite: Database.Database;
  readonly references: readonly ImageReference[];
  private readonly trashDir: string;
  private readonly deleteBatch: Database.Statement;
  private readonly totals: Database.Statement;
  private readonly unreferenced: Database.Statement;
  private readonly exists: Database.Statement;

  /**
   * `file`: the SQLite database (migrated). `images`: where the files are (ImageStore's layout). Opens its own
   * connection; close() closes it.
   */
  constructor(
    file: string,
    private readonly images: { root: string; pathOf(sha256: string): string },
  ) {
    this.sqlite = new Database(file, { timeout: 0 });
    try {
      // The delete cascades to ImageOwner, and the RESTRICT keys stay a second line of defence.
      this.sqlite.pragma('foreign_keys = ON');
      this.references = ImageCollector.findReferences(this.sqlite);
      const referenced = this.references
        .map(({ table, column }) => `SELECT ${quote(column)} FROM ${quote(table)} WHERE ${quote(column)} IS NOT NULL`)
        .join(' UNION ALL ');
      const unreferenced = `"id" NOT IN (${referenced})`;
      const stored = millisOf('"createdAt"');
      this.deleteBatch = this.sqlite.prepare(
        `DELETE FROM "Image" WHERE "id" IN (SELECT "id" FROM "Image" WHERE ${stored} < @before ` +
          `AND (@ids IS NULL OR "id" IN (SELECT "value" FROM json_each(@ids))) AND ${unreferenced} LIMIT ${BATCH}) ` +
          'RETURNING "id", "bytes"',
      );
      this.totals = this.sqlite.prepare(
        'SELECT COUNT(*) AS "images", COALESCE(SUM("bytes"), 0) AS "bytes" FROM "Image"',
      );
      this.unreferenced = this.sqlite.prepare(
        'SELECT COUNT(*) AS "images", COALESCE(SUM("bytes"), 0) AS "bytes", ' +
          `SUM(${stored} < @before) AS "reclaimableImages", ` +
          `COALESCE(SUM(CASE WHEN ${stored} < @before THEN "bytes" END), 0) AS "reclaimableBytes", ` +
          `MIN(${stored}) AS "oldest" FROM "Image" WHERE ${unreferenced}`,
      );
      this.exists = this.sqlite.prepare('SELECT 1 FROM "Image" WHERE "id" = ?').pluck();
    } catch (error) {
      this.sqlite.close();
      throw error;
    }
    this.trashDir = path.join(images.root, '.trash');
    mkdirSync(this.trashDir, { recursive: true });
  }

  /**
   * Every column that names an image, from the schema itself, so a table added later that references images keeps
   * them alive without a change here. Refuses to collect at all if it finds none (a database it does not know).
   */
  private static findReferences(sqlite: Database.Database): ImageReference[] {
    const rows = sqlite
      .prepare(
        'SELECT m."name" AS "table", f."from" AS "column" FROM "sqlite_master" AS m, ' +
          `pragma_foreign_key_list(m."name") AS f WHERE m."type" = 'table' AND f."table" = 'Image' ` +
          'ORDER BY m."name", f."from"',
      )
      .all() as ImageReference[];
    const references = rows.filter((row) => !NOT_REFERENCES.has(row.table));
    if (references.length === 0) throw new Error('no table references Image: not a Gramian database, nothing removed');
    return references;
  }

  /** Removes the unreferenced images that match, rows and files, in batches; see the rules at the top. */
  async reap(options: ReapOptions): Promise<Reaped> {
    const reaped: Reaped = { images: 0, bytes: 0, ids: [] };
    if (options.ids && options.ids.length === 0) return reaped;
    const parameters = {
      before: options.storedBefore.getTime(),
      ids: options.ids ? JSON.stringify([...new Set(options.ids)]) : null,
    };
    for (;;) {
      const batch = await this.withWriteLock(() => this.reapBatch(parameters));
      // After the commit: the rows are gone for good, so are the files.
      await Promise.all(batch.trash.map((file) => rm(file, { force: true })));
      reaped.images += batch.rows.length;
      for (const row of batch.rows) {
        reaped.bytes += row.bytes;
        reaped.ids.push(row.id);
      }
      if (batch.rows.length < BATCH || options.shouldStop?.()) return reaped;
    }
  }

  /** One write transaction: delete a batch of rows and move their files aside; all of it, or none of it. */
  private reapBatch(parameters: { before: number; ids: string | null }): {
    rows: { id: string; bytes: number }[];
    trash: string[];
  } {
    const moved: { file: string; trash: string }[] = [];
    try {
      const rows = this.deleteBatch.all(parameters) as { id: string; bytes: number }[];
      for (const { id } of rows) {
        const file = this.images.pathOf(id);
        const trash = path.join(this.trashDir, `${id}.${Date.now()}.${randomUUID().slice(0, 8)}`);
        try {
          renameSync(file, trash);
          moved.push({ file, trash });
        } catch (error) {
          // Already gone (removed by hand, or by a pass cut off after its commit): the row goes all the same.
          if (errorCode(error) !== 'ENOENT') throw error;
        }
      }
      this.sqlite.exec('COMMIT');
      return { rows, trash: moved.map((m) => m.trash) };
    } catch (error) {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      // The rows are back: so are their files.
      for (const { file, trash } of moved.reverse()) renameSync(trash, file);
      throw error;
    }
  }

  /** BEGIN IMMEDIATE without waiting: another connection holding the lock is waited for with pauses, not blocking. */
  private async withWriteLock<T>(work: () => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.sqlite.exec('BEGIN IMMEDIATE');
      } catch (error) {
        if (String(errorCode(error)).startsWith('SQLITE_BUSY') && attempt < BUSY_ATTEMPTS) {
          await pause(BUSY_PAUSE_MS);
          continue;
        }
        throw error;
      }
      // Synchronous from BEGIN to COMMIT or ROLLBACK (work ends the transaction).
      return work();
    }
  }

  /** Rows and bytes, in one read transaction so the numbers agree with each other. */
  imageTotals(storedBefore: Date): ImageTotals {
    return this.sqlite.transaction(() => {
      const all = this.totals.get() as { images: number; bytes: number };
      const free = this.unreferenced.get({ before: storedBefore.getTime() }) as {
        images: number;
        bytes: number;
        reclaimableImages: number | null;
        reclaimableBytes: number;
        oldest: number | null;
      };
      return {
        images: all.images,
        bytes: all.bytes,
        unreferencedImages: free.images,
        unreferencedBytes: free.bytes,
        reclaimableImages: free.reclaimableImages ?? 0,
        reclaimableBytes: free.reclaimableBytes,
        oldestUnreferencedAt: free.oldest === null ? null : new Date(free.oldest),
      };
    })();
  }

  /**
   * Files a collection cut off between its move and its commit left in .trash (a crash, a kill): the rollback kept
   * the row, so the file goes back; a file whose row is gone is removed. Only files older than any transaction
   * still in progress (another process's pass moves and commits within milliseconds).
   */
  async recoverTrash(now = Date.now()): Promise<{ restored: number; removed: number }> {
    const counts = { restored: 0, removed: 0 };
    for (const name of await readdir(this.trashDir).catch(() => [] as string[])) {
      const [id = '', movedAt = ''] = name.split('.');
      const trash = path.join(this.trashDir, name);
      if (!/^[0-9a-f]{64}$/.test(id) || !(Number(movedAt) < now - STALE_TRASH_MS)) continue;
      const file = this.images.pathOf(id);
      if (this.exists.get(id) && !(await stat(file).catch(() => null))) {
        await rename(trash, file);
        counts.restored++;
      } else {
        await rm(trash, { force: true });
        counts.removed++;
      }
    }
    return counts;
  }

  close(): void {
    this.sqlite.close();
  }
}
