import { Rng } from '../stats/rng.js';
import type { RequestSpec } from './request_spec.js';
import { drawIds } from './random_workload.js';

/**
 * Mooncake's traces give each prompt as `hash_ids`: one id per block of 512
 * tokens, equal ids for equal blocks (and, since each block's hash covers
 * the blocks before it, for equal prefixes). A replay makes each block id
 * into the same token ids wherever it appears, so that requests that shared
 * prefixes in the trace share them on the engine, and its prefix cache sees
 * the trace's reuse.
 */

/** Mooncake's block size. */
export const MOONCAKE_BLOCK_TOKENS = 512;

/** The prompt of a request given as blocks: each block id's own seeded tokens, then tokens of its own past the last block. */
export function blockPrompt(r: RequestSpec, seed: number, vocabSize: number, special: ReadonlySet<number>): number[] {
  const size = r.blockTokens ?? MOONCAKE_BLOCK_TOKENS;
  const ids: number[] = [];
  for (const h of r.hashIds ?? []) {
    if (ids.length >= r.inputTokens) break;
    drawIds(new Rng((seed ^ Math.imul(h + 1, 0x9e3779b1)) >>> 0), Math.min(size, r.inputTokens - ids.length), vocabSize, special, ids);
  }
  if (ids.length < r.inputTokens) drawIds(new Rng((seed ^ Math.imul(hashString(r.id), 0x85ebca6b)) >>> 0), r.inputTokens - ids.length, vocabSize, special, ids);
  return ids;
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The hit rate the trace implies: requests in arrival order, a cache that
 * keeps every token of every block it has seen (a prompt may end inside a
 * block: only the part it held is known), and a request served from it up
 * to the first token not seen (less the one token a prompt always
 * prefills), over all prompt tokens. Null when no request carries block ids.
 */
export function impliedHitRate(requests: readonly RequestSpec[]): number | null {
  /** Tokens of each block seen so far. */
  const seen = new Map<number, number>();
  let cached = 0;
  let total = 0;
  let any = false;
  const ordered = [...requests].sort((a, b) => (a.arrivalMs ?? 0) - (b.arrivalMs ?? 0));
  for (const r of ordered) {
    total += r.inputTokens;
    if (!r.hashIds?.length) continue;
    any = true;
    const size = r.blockTokens ?? MOONCAKE_BLOCK_TOKENS;
    let hit = 0;
    let whole = true;
    r.hashIds.forEach((h, j) => {
      const used = Math.max(0, Math.min(size, r.inputTokens - j * size));
      const known = seen.get(h) ?? 0;
      if (whole) {
        hit += Math.min(known, used);
        whole = known >= used;
      }
      if (used > known) seen.set(h, used);
    });
    cached += Math.min(hit, r.inputTokens - 1);
  }
  return any && total > 0 ? cached / total : null;
}
