// The image collector's rows in a SQLite file (see storage/image-collector.ts for the rules they keep). Each batch is
// one synchronous write transaction on a connection of its own: in the server's process nothing else runs while it
// holds the lock, and it never waits for the lock (busy timeout 0, retried after a pause), so it cannot block the
// event loop behind the server's own connection.
import Database from 'better-sqlite3';
import type { DeletedImageRow, ImageReference, ImageRows, ImageTotals, ReapParameters } from './image-rows.js';

/** How often and how long to try again for the write lock (another connection's transaction is short). */
const BUSY_PAUSE_MS = 20;
const BUSY_ATTEMPTS = 1500;
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

export class SqliteImageRows implements ImageRows {
  private readonly sqlite: Database.Database;
  readonly references: readonly ImageReference[];
  private readonly deleteBatchStatement: (limit: number) => Database.Statement;
  private readonly allTotals: Database.Statement;
  private readonly unreferenced: Database.Statement;
  private readonly existsStatement: Database.Statement;

  /** `file`: the SQLite database (migrated). Opens its own connection; close() closes it. */
  constructor(file: string) {
    this.sqlite = new Database(file, { timeout: 0 });
    try {
      // The delete cascades to ImageOwner, and the RESTRICT keys stay a second line of defence.
      this.sqlite.pragma('foreign_keys = ON');
      this.references = SqliteImageRows.findReferences(this.sqlite);
      const referenced = this.references
        .map(({ table, column }) => `SELECT ${quote(column)} FROM ${quote(table)} WHERE ${quote(column)} IS NOT NULL`)
        .join(' UNION ALL ');
      const unreferenced = `"id" NOT IN (${referenced})`;
      const stored = millisOf('"createdAt"');
      const deletes = new Map<number, Database.Statement>();
      this.deleteBatchStatement = (limit) => {
        let statement = deletes.get(limit);
        if (!statement) {
          statement = this.sqlite.prepare(
            `DELETE FROM "Image" WHERE "id" IN (SELECT "id" FROM "Image" WHERE ${stored} < @before ` +
              `AND (@ids IS NULL OR "id" IN (SELECT "value" FROM json_each(@ids))) AND ${unreferenced} ` +
              `LIMIT ${limit}) RETURNING "id", "bytes"`,
          );
          deletes.set(limit, statement);
        }
        return statement;
      };
      this.allTotals = this.sqlite.prepare(
        'SELECT COUNT(*) AS "images", COALESCE(SUM("bytes"), 0) AS "bytes" FROM "Image"',
      );
      this.unreferenced = this.sqlite.prepare(
        'SELECT COUNT(*) AS "images", COALESCE(SUM("bytes"), 0) AS "bytes", ' +
          `SUM(${stored} < @before) AS "reclaimableImages", ` +
          `COALESCE(SUM(CASE WHEN ${stored} < @before THEN "bytes" END), 0) AS "reclaimableBytes", ` +
          `MIN(${stored}) AS "oldest" FROM "Image" WHERE ${unreferenced}`,
      );
      this.existsStatement = this.sqlite.prepare('SELECT 1 FROM "Image" WHERE "id" = ?').pluck();
    } catch (error) {
      this.sqlite.close();
      throw error;
    }
  }

  /** Every column that names an image, from the schema itself (see ImageCollector). */
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

  /** `beforeCommit` must be synchronous here: nothing may wait while this connection holds SQLite's write lock. */
  async deleteBatch(
    parameters: ReapParameters,
    limit: number,
    beforeCommit: (rows: DeletedImageRow[]) => void | Promise<void>,
  ): Promise<DeletedImageRow[]> {
    await this.beginImmediate();
    // Synchronous from BEGIN to COMMIT or ROLLBACK.
    try {
      const rows = this.deleteBatchStatement(limit).all({
        before: parameters.storedBefore.getTime(),
        ids: parameters.ids ? JSON.stringify(parameters.ids) : null,
      }) as DeletedImageRow[];
      if (beforeCommit(rows) instanceof Promise) throw new Error('beforeCommit must be synchronous on SQLite');
      this.sqlite.exec('COMMIT');
      return rows;
    } catch (error) {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      throw error;
    }
  }

  /** BEGIN IMMEDIATE without waiting: another connection holding the lock is waited for with pauses, not blocking. */
  private async beginImmediate(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.sqlite.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        if (String(errorCode(error)).startsWith('SQLITE_BUSY') && attempt < BUSY_ATTEMPTS) {
          await pause(BUSY_PAUSE_MS);
          continue;
        }
        throw error;
      }
    }
  }

  exists(id: string): Promise<boolean> {
    return Promise.resolve(this.existsStatement.get(id) !== undefined);
  }

  /** In one read transaction so the numbers agree with each other. */
  totals(storedBefore: Date): Promise<ImageTotals> {
    return Promise.resolve(
      this.sqlite.transaction(() => {
        const all = this.allTotals.get() as { images: number; bytes: number };
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
      })(),
    );
  }

  close(): Promise<void> {
    this.sqlite.close();
    return Promise.resolve();
  }
}
