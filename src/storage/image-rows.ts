// What the image collector (storage/image-collector.ts) needs from the database, one implementation per kind:
// image-rows-sqlite.ts and image-rows-postgres.ts. The files (or objects) are the collector's; the rows are these.

/** A column that names an image, found in the database's own foreign keys. */
export interface ImageReference {
  table: string;
  column: string;
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

export interface ReapParameters {
  /** Only images stored (Image.createdAt) before this instant. */
  storedBefore: Date;
  /** Only these images; all when null. */
  ids: string[] | null;
}

export interface DeletedImageRow {
  id: string;
  bytes: number;
}

export interface ImageRows {
  /** The columns that keep an image alive (never empty: opening refuses a database without any). */
  readonly references: readonly ImageReference[];
  /**
   * Deletes up to `limit` unreferenced images that match, in one write transaction that no other write naming an
   * image runs beside, and runs `beforeCommit` with the deleted rows before committing. If `beforeCommit` throws, or
   * the commit fails, the transaction is rolled back and the error rethrown.
   */
  deleteBatch(
    parameters: ReapParameters,
    limit: number,
    beforeCommit: (rows: DeletedImageRow[]) => void | Promise<void>,
  ): Promise<DeletedImageRow[]>;
  exists(id: string): Promise<boolean>;
  /** Rows and bytes, from one snapshot so that the numbers agree with each other. */
  totals(storedBefore: Date): Promise<ImageTotals>;
  close(): Promise<void>;
}
