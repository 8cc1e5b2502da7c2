// Global ids (Relay): clients pass back the ids the API gave them; a malformed id or one of another type names
// nothing, so it is a NotFoundError rather than a crash. An image may also be named by its sha256.
import { decodeGlobalID } from '@pothos/plugin-relay';
import { NotFoundError } from '../../errors.js';

/** An image's own id: the SHA-256 of its bytes, as POST /images and Image.sha256 give it. */
const SHA256 = /^[0-9a-f]{64}$/i;

export function localId(globalId: string, typename: string): string {
  // Where an Image is expected, its sha256 names it as well as its global id does.
  if (typename === 'Image' && SHA256.test(globalId)) return globalId.toLowerCase();
  try {
    const decoded = decodeGlobalID(globalId);
    if (decoded.typename === typename) return decoded.id;
  } catch {
    // fall through: not a global id at all
  }
  throw new NotFoundError(typename, globalId);
}

/** For lookups that answer null: the local id, or null when the global id cannot name a `typename`. */
export function localIdOrNull(globalId: string, typename: string): string | null {
  try {
    return localId(globalId, typename);
  } catch {
    return null;
  }
}
