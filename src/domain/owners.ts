// Whose rows a principal sees: the database filters every lookup and list with these, so another owner's row is
// simply not found (its existence is not revealed) and counts are counts of one's own.
import { isAdmin, SHARED_OWNER, type Principal } from '../auth/principal.js';

export { SHARED_OWNER };

/** Rows a principal owns (an admin: every row). For runs and styles, and for changing anything. */
export function ownedBy(principal: Principal): { owner?: string } {
  return isAdmin(principal) ? {} : { owner: principal.owner };
}

/** Rows a principal may use: its own and the shared ones (built-in presets, catalogue models). */
export function usableBy(principal: Principal): { owner?: { in: string[] } } {
  return isAdmin(principal) ? {} : { owner: { in: [principal.owner, SHARED_OWNER] } };
}

/** Whether a principal may change a row it can see: shared rows are read-only to non-admins. */
export function mayChange(principal: Principal, owner: string): boolean {
  return isAdmin(principal) || owner === principal.owner;
}

/** Owners whose images a principal may read (undefined: every image, for an admin). */
export function readersFor(principal: Principal): string[] | undefined {
  return isAdmin(principal) ? undefined : [principal.owner, SHARED_OWNER];
}

/** Whether a principal may see a row of this owner (runs and styles: its own; an admin: all). */
export function mayRead(principal: Principal, owner: string): boolean {
  return isAdmin(principal) || owner === principal.owner;
}
