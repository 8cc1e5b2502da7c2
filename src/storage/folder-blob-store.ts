// A BlobStore in a folder: root/ab/abcdef… (the first two hex digits, then the whole key), the layout image folders
// have always had, so existing data folders keep working. Objects moved aside by a collection wait in root/.trash.
import { randomUUID } from 'node:crypto';
import { renameSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { asideName, assertKey, BlobNotFoundError, BlobStoreError, type BlobStore } from './blob-store.js';

const errorCode = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

export class FolderBlobStore implements BlobStore {
  readonly trashDir: string;

  constructor(readonly root: string) {
    this.trashDir = path.join(root, '.trash');
  }

  pathOf(key: string): string {
    assertKey(key);
    return path.join(this.root, key.slice(0, 2), key);
  }

  describe(): string {
    return `folder ${this.root}`;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.trashDir, { recursive: true });
    } catch (error) {
      throw new BlobStoreError(`IMAGE_STORE: cannot use the folder ${this.root}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    // Unique per write: two puts of the same key at once (two uploads, two hosts on a shared folder) must not share a
    // temporary file, or one renames it away under the other. The rename replaces the file whole: a reader that
    // opened the old one reads it to its end.
    const temporary = `${file}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') throw new BlobNotFoundError(key, this.describe());
      throw error;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await access(this.pathOf(key));
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async moveAside(key: string): Promise<string | null> {
    const aside = asideName(key);
    try {
      await rename(this.pathOf(key), path.join(this.trashDir, aside));
      return aside;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  /** For a collection inside its SQLite write transaction, where nothing may wait (see image-collector.ts). */
  moveAsideSync(key: string): string | null {
    const aside = asideName(key);
    try {
      renameSync(this.pathOf(key), path.join(this.trashDir, aside));
      return aside;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  restoreAsideSync(aside: string, key: string): void {
    renameSync(path.join(this.trashDir, aside), this.pathOf(key));
  }

  async restoreAside(aside: string, key: string): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    await rename(path.join(this.trashDir, aside), file);
  }

  async deleteAside(aside: string): Promise<void> {
    await rm(path.join(this.trashDir, path.basename(aside)), { force: true });
  }

  async listAside(): Promise<string[]> {
    return readdir(this.trashDir).catch(() => []);
  }

  close(): void {}
}
