import { createHash } from 'node:crypto';

/** Printable ASCII without surrounding spaces, 1 to 256 characters: a rid goes into headers, trace files and terminals as it is. */
const SAFE_RID = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

/** Whether a request id can be used and shown as it is. */
export function isSafeRid(rid: string): boolean {
  return SAFE_RID.test(rid);
}

/** A stand-in for a rid that must not be shown or kept: the same rid always gives the same id, and nothing of it shows. */
export function hashedRid(rid: string): string {
  return `rid-${createHash('sha256').update(rid).digest('hex').slice(0, 16)}`;
}

/** A rid read from a file, made usable as a request id: kept when safe, hashed otherwise. */
export function usableRid(rid: string): string {
  return isSafeRid(rid) ? rid : hashedRid(rid);
}
