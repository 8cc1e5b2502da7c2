// The image store on a real SQLite file and folder: content addressing, and saves that race each other.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, type OpenDatabase } from '../src/storage/db.js';
import { ImageStore } from '../src/storage/image-store.js';
import { readShared, styleImage } from './helpers/shared.js';

let dir: string;
let database: OpenDatabase;
let store: ImageStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-images-'));
  database = await openDatabase(`file:${path.join(dir, 'gramian.db')}`);
  store = new ImageStore(database.prisma, path.join(dir, 'images'), { maxBytes: 10_000_000, maxPixels: 10_000_000 });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ImageStore', () => {
  it('stores two saves of one image in the same millisecond once, whole, leaving no temporary file', async () => {
    const bytes = await readShared(styleImage('the_scream.jpg'));
    const image = await store.check(bytes, 'image');
    // Both writes start in the same millisecond, as two uploads of one file can.
    vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
    const [first, second] = await Promise.all([store.save(image, 'local'), store.save(image, 'local')]);
    expect(first.id).toBe(image.sha256);
    expect(second.id).toBe(image.sha256);
    expect(Buffer.compare(await readFile(store.pathOf(image.sha256)), bytes)).toBe(0);
    const files = await readdir(path.join(dir, 'images'), { recursive: true });
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(await database.prisma.image.count()).toBe(1);
  });
});
