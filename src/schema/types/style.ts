// Styles: uploaded once, used by many runs.
import { deleteStyle, uploadStyle } from '../../domain/styles.js';
import { ConflictError, ImageTooLargeError, InputError, NotFoundError } from '../../errors.js';
import { ownedBy } from '../../domain/owners.js';
import { builder } from '../builder.js';
import { localId, localIdOrNull } from './ids.js';

export const StyleRef = builder.prismaNode('Style', {
  id: { field: 'id' },
  // Lookups and lists already keep to the principal's own; this holds for whatever path reaches a style.
  authScopes: (style) => ({ owner: style.owner }),
  fields: (t) => ({
    name: t.exposeString('name'),
    tags: t.stringList({ resolve: (style) => style.tags as string[] }),
    image: t.relation('image'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const DeletedRef = builder.objectRef<{ id: string }>('Deleted').implement({
  description: 'What a delete removed.',
  fields: (t) => ({ deletedId: t.exposeID('id') }),
});

builder.queryFields((t) => ({
  styles: t.prismaField({
    type: ['Style'],
    description: 'All styles, newest first; with `tag`, only those carrying it.',
    args: { tag: t.arg.string({ required: false }) },
    resolve: async (query, _root, args, { db, principal }) => {
      const styles = await db.style.findMany({ ...query, where: ownedBy(principal), orderBy: { createdAt: 'desc' } });
      return args.tag ? styles.filter((s) => (s.tags as string[]).includes(args.tag!)) : styles;
    },
  }),
  style: t.prismaField({
    type: 'Style',
    nullable: true,
    args: { id: t.arg.id() },
    resolve: (query, _root, args, { db, principal }) => {
      const id = localIdOrNull(String(args.id), 'Style');
      return id ? db.style.findFirst({ ...query, where: { id, ...ownedBy(principal) } }) : null;
    },
  }),
}));

const UploadStyleInput = builder.inputType('UploadStyleInput', {
  description: 'Give exactly one of image and imageId.',
  fields: (t) => ({
    name: t.string({ description: 'Unique, 1 to 80 characters.' }),
    image: t.field({ type: 'File', required: false, description: 'The style image, uploaded (multipart request).' }),
    imageId: t.id({ required: false, description: 'An image already stored, e.g. by POST /images.' }),
    tags: t.stringList({ required: false, description: 'Up to 20 tags of up to 40 characters.' }),
  }),
});

builder.mutationFields((t) => ({
  uploadStyle: t.prismaField({
    type: 'Style',
    description: 'Stores a style image under a unique name.',
    authScopes: { manage: true },
    errors: { types: [InputError, ImageTooLargeError, NotFoundError, ConflictError] },
    args: { input: t.arg({ type: UploadStyleInput }) },
    resolve: async (query, _root, { input }, { db, images, principal }) => {
      const style = await uploadStyle(db, images, principal, {
        name: input.name,
        image: input.image ? new Uint8Array(await input.image.arrayBuffer()) : null,
        imageId: input.imageId ? localId(String(input.imageId), 'Image') : null,
        tags: input.tags ?? [],
      });
      return db.style.findUniqueOrThrow({ ...query, where: { id: style.id } });
    },
  }),
  deleteStyle: t.field({
    type: DeletedRef,
    description: 'Deletes a style that no queued or running run needs. Past runs keep its name and image.',
    authScopes: { manage: true },
    errors: { types: [NotFoundError, ConflictError] },
    args: { id: t.arg.id() },
    resolve: async (_root, args, { db, principal }) => {
      await deleteStyle(db, principal, localId(String(args.id), 'Style'));
      return { id: String(args.id) };
    },
  }),
}));
