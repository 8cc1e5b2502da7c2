// The image collector's rows on PostgreSQL (see storage/image-collector.ts for the rules they keep). SQLite has one
// writer at a time, so there a DELETE sees every row committed before it and nothing commits during it; PostgreSQL
// runs writers side by side, so each batch first locks the Image table in EXCLUSIVE mode: that waits for every
// transaction that has written an image row or a row naming an image (the foreign key check of such a write holds
// ROW SHARE on Image until it commits) and holds off new ones until the batch commits. Reads go on meanwhile. The
// DELETE, a statement started after the lock was granted, then sees all of those writes, as on SQLite.
import pg from 'pg';
import type { DeletedImageRow, ImageReference, ImageRows, ImageTotals, ReapParameters } from './image-rows.js';

/** How long one try for the lock waits: a transaction of the server's own is short. */
const LOCK_TIMEOUT_MS = 200;
/** Tries, with a pause between them, before a collection gives up (a transaction left open for minutes). */
const LOCK_ATTEMPTS = 600;
const LOCK_PAUSE_MS = 20;
/** SQLSTATE lock_not_available: lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';
/** ImageOwner only says who may read an image; it goes with the image (ON DELETE CASCADE) and keeps nothing alive. */
const NOT_REFERENCES = new Set(['ImageOwner']);

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Prisma keeps DateTime as timestamp(3) without time zone, in UTC; parameters are ISO strings read as UTC. */
const utc = (parameter: string) => `(${parameter}::timestamptz AT TIME ZONE 'UTC')`;
/** Milliseconds since 1970 of such a column. */
const millisOf = (column: string) => `(EXTRACT(EPOCH FROM ${column}) * 1000)`;

export class PostgresImageRows implements ImageRows {
  /** One connection of its own (a pool of one, so that a dropped connection is replaced on the next use). */
  private readonly pool: pg.Pool;
  private schema: Promise<{ references: ImageReference[]; unreferenced: string }> | undefined;
  private loadedReferences: readonly ImageReference[] = [];

  /** Connects lazily to the migrated database at `url`; load() reads which columns name an image. */
  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'gramian-image-collector' });
    // An idle connection that the server drops (a restart) is reported here; the next query opens another.
    this.pool.on('error', () => undefined);
  }

  /** Empty until load() (which every collection runs first) has read them. */
  get references(): readonly ImageReference[] {
    return this.loadedReferences;
  }

  /** Reads the columns that name an image; refuses a database without any. Tried again after a failure. */
  async load(): Promise<void> {
    await this.unreferencedCondition();
  }

  private async unreferencedCondition(): Promise<string> {
    this.schema ??= PostgresImageRows.findReferences(this.pool).then((references) => {
      this.loadedReferences = references;
      const referenced = references
        .map(({ table, column }) => `SELECT ${quote(column)} FROM ${quote(table)} WHERE ${quote(column)} IS NOT NULL`)
        .join(' UNION ALL ');
      return { references, unreferenced: `"id" NOT IN (${referenced})` };
    });
    this.schema.catch(() => (this.schema = undefined));
    return (await this.schema).unreferenced;
  }

  /** Every column that names an image, from the database's own foreign keys (see ImageCollector). */
  private static async findReferences(pool: pg.Pool): Promise<ImageReference[]> {
    const result = await pool.query<ImageReference>(
      'SELECT source.relname AS "table", attribute.attname AS "column" FROM pg_constraint AS fk ' +
        'JOIN pg_class AS source ON source.oid = fk.conrelid ' +
        'JOIN pg_class AS target ON target.oid = fk.confrelid ' +
        'JOIN pg_attribute AS attribute ON attribute.attrelid = fk.conrelid AND attribute.attnum = ANY (fk.conkey) ' +
        "WHERE fk.contype = 'f' AND target.relname = 'Image' " +
        'AND target.relnamespace = current_schema()::regnamespace ORDER BY 1, 2',
    );
    const references = result.rows.filter((row) => !NOT_REFERENCES.has(row.table));
    if (references.length === 0) throw new Error('no table references Image: not a Gramian database, nothing removed');
    return references;
  }

  async deleteBatch(
    parameters: ReapParameters,
    limit: number,
    beforeCommit: (rows: DeletedImageRow[]) => void | Promise<void>,
  ): Promise<DeletedImageRow[]> {
    const unreferenced = await this.unreferencedCondition();
    const client = await this.pool.connect();
    let failure: Error | undefined;
    try {
      await this.lockImages(client);
      const result = await client.query<DeletedImageRow>(
        `DELETE FROM "Image" WHERE "id" IN (SELECT "id" FROM "Image" WHERE "createdAt" < ${utc('$1')} ` +
          `AND ($2::text[] IS NULL OR "id" = ANY ($2::text[])) AND ${unreferenced} LIMIT ${limit}) ` +
          'RETURNING "id", "bytes"',
        [parameters.storedBefore.toISOString(), parameters.ids],
      );
      await beforeCommit(result.rows);
      await client.query('COMMIT');
      return result.rows;
    } catch (error) {
      failure = error as Error;
      throw error;
    } finally {
      // After a failure the connection is closed, not reused: that ends (rolls back) whatever it had begun, and a
      // connection the server dropped is replaced on the next use.
      client.release(failure);
    }
  }

  /** BEGIN, then the table lock, tried for a moment at a time so that a long wait does not queue other writers. */
  private async lockImages(client: pg.PoolClient): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
        await client.query('LOCK TABLE "Image" IN EXCLUSIVE MODE');
        return;
      } catch (error) {
        if (!('code' in (error as object))) throw error;
        await client.query('ROLLBACK');
        if ((error as { code?: unknown }).code !== LOCK_NOT_AVAILABLE || attempt >= LOCK_ATTEMPTS) throw error;
      }
      await pause(LOCK_PAUSE_MS);
    }
  }

  async exists(id: string): Promise<boolean> {
    const result = await this.pool.query('SELECT 1 FROM "Image" WHERE "id" = $1', [id]);
    return result.rowCount !== null && result.rowCount > 0;
  }

  /** One statement, so one snapshot: the numbers agree with each other. */
  async totals(storedBefore: Date): Promise<ImageTotals> {
    const unreferenced = await this.unreferencedCondition();
    const reclaimable = `"createdAt" < ${utc('$1')}`;
    const result = await this.pool.query<Record<string, string | null>>(
      'SELECT all_images.images, all_images.bytes, free.images AS "unreferencedImages", ' +
        'free.bytes AS "unreferencedBytes", free."reclaimableImages", free."reclaimableBytes", free.oldest FROM ' +
        '(SELECT COUNT(*) AS images, COALESCE(SUM("bytes"), 0) AS bytes FROM "Image") AS all_images, ' +
        '(SELECT COUNT(*) AS images, COALESCE(SUM("bytes"), 0) AS bytes, ' +
        `COUNT(*) FILTER (WHERE ${reclaimable}) AS "reclaimableImages", ` +
        `COALESCE(SUM("bytes") FILTER (WHERE ${reclaimable}), 0) AS "reclaimableBytes", ` +
        `MIN(${millisOf('"createdAt"')}) AS oldest FROM "Image" WHERE ${unreferenced}) AS free`,
      [storedBefore.toISOString()],
    );
    // COUNT and SUM over integers are bigint, which pg hands over as text.
    const row = result.rows[0]!;
    const count = (name: string) => Number(row[name]);
    return {
      images: count('images'),
      bytes: count('bytes'),
      unreferencedImages: count('unreferencedImages'),
      unreferencedBytes: count('unreferencedBytes'),
      reclaimableImages: count('reclaimableImages'),
      reclaimableBytes: count('reclaimableBytes'),
      oldestUnreferencedAt:
        row.oldest === null || row.oldest === undefined ? null : new Date(Math.round(count('oldest'))),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
