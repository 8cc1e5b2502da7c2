// Global ids (Relay): clients pass back the ids the API gave them; a malformed id or one of another type names
// nothing, so it is a NotFoundError rather than a crash.
import { decodeGlobalID } from '@pothos/plugin-relay';
import { NotFoundError } from '../../errors.js';

export function localId(globalId: string, typename: string): string {
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
