import type { PrefixCache, PrefixMatch } from '../policy/prefix_cache.js';
import type { Scheduler } from '../policy/scheduler.js';
import type { LiveRequest } from './live_request.js';

/** Cached tokens worth waiting a run for (SGLang's in-batch prefix check uses the same 32). */
const WORTH_WAITING = 32;

/**
 * Whether `r` does better in the next prefill run than in this one. Rows
 * of a dense run start prefilling at one column (KvBatch.prefill), so a row
 * that needs more tokens than the others costs them their cached ones, and
 * a row with a cache hit beside one that needs its whole prompt loses its
 * own; and `r` may share a prefix with a row already taken that the cache
 * does not hold yet, but will once this run is done.
 */
export function betterNextRun(r: LiveRequest, taken: readonly LiveRequest[], cached: (r: LiveRequest) => number): boolean {
  let need = 0;
  for (const t of taken) need = Math.max(need, t.promptLength - cached(t));
  const own = r.promptLength - cached(r);
  const next = Math.max(need, own);
  // Reuse lost by the rows taken, and by r itself, if r joins.
  let lost = Math.max(0, r.promptLength - own) - Math.max(0, r.promptLength - next);
  for (const t of taken) lost += Math.max(0, t.promptLength - need) - Math.max(0, t.promptLength - next);
  if (lost >= WORTH_WAITING) return true;
  for (const t of taken) {
    let k = 0;
    const n = Math.min(t.inputIds.length, r.inputIds.length - 1);
    while (k < n && t.inputIds[k] === r.inputIds[k]) k++;
    if (k - cached(r) >= WORTH_WAITING) return true;
  }
  return false;
}

/**
 * The requests to prefill next and, with the prefix cache, each one's
 * match: matched once, admission weighs its length and the prefill copies
 * it in. Without waiting requests nothing is matched (the decode path).
 */
export function admitNext(
  scheduler: Scheduler<LiveRequest>,
  running: readonly LiveRequest[],
  cache: PrefixCache | null,
): { admitted: LiveRequest[]; matches: PrefixMatch[] | null } | null {
  if (!cache || scheduler.waiting === 0) {
    const admitted = scheduler.admit(running);
    return admitted.length ? { admitted, matches: null } : null;
  }
  const matches = new Map<LiveRequest, PrefixMatch>();
  const cached = (r: LiveRequest): number => {
    let m = matches.get(r);
    if (!m) matches.set(r, (m = cache.match(r.inputIds)));
    return m.length;
  };
  const admitted = scheduler.admit(running, cached, (r, taken) => betterNextRun(r, taken, cached));
  return admitted.length ? { admitted, matches: admitted.map((r) => matches.get(r) ?? cache.match(r.inputIds)) } : null;
}
