// Style images users upload once and use in many runs.
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { Style } from '../storage/generated/client.ts';
import type { ImageStore } from '../storage/image-store.js';
import type { Principal } from '../auth/principal.js';
import { ownedBy, readersFor } from './owners.js';
import { ACTIVE_STATUSES } from './run-status.js';

const MAX_TAGS = 20;
const MAX_TAG_LENGTH = 40;

function checkTags(tags: string[]): string[] {
  const cleaned = [...new Set(tags.map((t) => t.trim()).filter(Boolean))];
  if (cleaned.length > MAX_TAGS) throw new InputError('tags', `has ${cleaned.length} tags`, `at most ${MAX_TAGS}`);
  const long = cleaned.find((t) => t.length > MAX_TAG_LENGTH);
  if (long) throw new InputError('tags', `"${long.slice(0, 20)}…" is longer than ${MAX_TAG_LENGTH} characters`);
  return cleaned;
}

/** Checks everything (name, tags, image) before writing anything. The image is uploaded or already stored. */
export async function uploadStyle(
  db: Db,
  images: ImageStore,
  principal: Principal,
  input: { name: string; image?: Uint8Array | null; imageId?: string | null; tags: string[] },
): Promise<Style> {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 80) throw new InputError('name', 'must be 1 to 80 characters');
  const tags = checkTags(input.tags);
  if ((input.image == null) === (input.imageId == null))
    throw new InputError('image', 'give exactly one of image (an upload) and imageId');
  const { owner } = principal;
  if (await db.style.findUnique({ where: { owner_name: { owner, name } } })) {
    throw new ConflictError(`a style named "${name}" already exists`);
  }
  let imageId = input.imageId;
  if (input.image != null) {
    imageId = (await images.save(await images.check(input.image, 'image'), owner)).id;
  } else if (!(await images.find(imageId!, readersFor(principal)))) {
    throw new NotFoundError('Image', imageId!);
  }
  // A stored image nothing else used may be collected meanwhile: NOT_FOUND then, with nothing written.
  return images.referencing([imageId!], () => db.style.create({ data: { name, owner, imageId: imageId!, tags } }));
}

/** Deletes a style unless a queued or running run still needs it; finished runs keep its name and image. */
export async function deleteStyle(db: Db, principal: Principal, id: string): Promise<Style> {
  const style = await db.style.findFirst({ where: { id, ...ownedBy(principal) } });
  if (!style) throw new NotFoundError('Style', id);
  const waiting = await db.run.count({
    where: { status: { in: [...ACTIVE_STATUSES] }, styles: { some: { styleId: id } } },
  });
  if (waiting > 0)
    throw new ConflictError(
      `style "${style.name}" is used by ${waiting} queued or running run(s); cancel them or wait`,
    );
  return db.style.delete({ where: { id } });
}
