// Images: served at /images/<sha256>, immutable.
import { builder } from '../builder.js';

export const ImageRef = builder.prismaNode('Image', {
  id: { field: 'id' },
  description: 'A stored image. Its bytes are at `url` (GET, cacheable forever).',
  fields: (t) => ({
    sha256: t.exposeString('id', { description: 'SHA-256 of the bytes.' }),
    url: t.string({
      description: 'Path of the image on this server, signed: it works without credentials until it expires.',
      resolve: (image, _args, { imageUrls }) => imageUrls.url(image.id),
    }),
    mime: t.exposeString('mime'),
    width: t.exposeInt('width'),
    height: t.exposeInt('height'),
    bytes: t.exposeInt('bytes'),
    createdAt: t.expose('createdAt', {
      type: 'DateTime',
      description:
        'When these bytes were last stored (storing them again renews it). An image nothing references is deleted ' +
        'a day after this.',
    }),
  }),
});
