import type { Tensor } from 'onnxruntime-node';
import { now } from '../../tracing/clock.js';
import type { ModelRunner } from '../onnx/model_runner.js';
import type { KvData, PrefixCache, PrefixMatch } from '../policy/prefix_cache.js';
import type { SlotPlacement } from '../kv/slot_batch.js';
import type { SlotCache } from '../kv/slot_cache.js';
import type { HostPrefix } from '../kv/gqa_prefill.js';
import type { LiveRequest } from './live_request.js';
import type { Scheduler } from '../policy/scheduler.js';
import { recordCacheInsert, recordCopyIn } from './step_trace.js';
import type { RunningBatch } from '../kv/running_batch.js';

/**
 * Copies the admitted rows' cached prefixes into their prefill: holds the
 * matches while `place` places the rows (slots: it may move the cache's
 * pages out of their way), then while it evicts what the budget cannot
 * keep (`over` tokens) and `copy` runs, then records each row's copy-in
 * (from the eviction on: the placement is not the prefix cache's time).
 */
function withMatches(
  cache: PrefixCache,
  admitted: readonly LiveRequest[],
  matches: readonly PrefixMatch[],
  over: () => number,
  copy: () => void,
  place: () => void = () => {},
): void {
  for (const m of matches) cache.acquire(m);
  place();
  const start = now();
  const excess = over();
  const evicted = excess > 0 ? cache.evict(excess) : 0;
  copy();
  for (const m of matches) cache.release(m);
  const done = now();
  admitted.forEach((r, i) => recordCopyIn(r.trace, start, done, r.cachedTokens, matches[i].length, evicted, cache.size));
}

/**
 * Slots: `place` chooses the slots (SlotBatch.place), then each admitted
 * row's whole match goes straight into its slot. The matches are held
 * while the rows are placed: a placement may move the cache's pages out of
 * the slots' way, evicting what no request holds.
 */
export function copyIntoSlots(
  cache: PrefixCache,
  slots: SlotCache,
  place: () => SlotPlacement,
  admitted: readonly LiveRequest[],
  matches: readonly PrefixMatch[],
  over: () => number,
): SlotPlacement {
  let at!: SlotPlacement;
  const copy = (): void =>
    at.order.forEach((i, k) => {
      const r = admitted[i];
      r.cachedTokens = matches[i].length;
      if (r.cachedTokens > 0) cache.copyOut(matches[i], r.cachedTokens, slots.data, at.first + k, slots.capacity, r.cachedTokens);
    });
  withMatches(cache, admitted, matches, over, copy, () => (at = place()));
  return at;
}

/** Gqa: each admitted row's whole match on the host ([1, kv_heads, match, head_dim] each), to go up into its own cache; null for none. */
export function copyIntoRows(
  cache: PrefixCache,
  runner: ModelRunner,
  admitted: readonly LiveRequest[],
  matches: readonly PrefixMatch[],
  over: () => number,
): (HostPrefix | null)[] {
  const { kvHeads, headDim, pastNames } = runner.io;
  const out: (HostPrefix | null)[] = admitted.map(() => null);
  withMatches(cache, admitted, matches, over, () => {
    admitted.forEach((r, i) => {
      const length = (r.cachedTokens = matches[i].length);
      if (length === 0) return;
      const data = pastNames.map(() => runner.newKvData(kvHeads * length * headDim));
      cache.copyOut(matches[i], length, data, 0, length, length);
      out[i] = { data, length };
    });
  });
  return out;
}

/**
 * Dense: the KV of the admitted prompts' cached prefixes, as the first
 * columns of their prefill. The batch is left-padded, so all rows start
 * prefilling at one column: the widest prompt less the most tokens any row
 * still needs. A row whose match reaches past that column recomputes the
 * difference. Null when no row has anything cached.
 */
export function copyIntoDense(
  cache: PrefixCache,
  runner: ModelRunner,
  admitted: readonly LiveRequest[],
  matches: readonly PrefixMatch[],
  over: () => number,
): { past: Tensor[]; length: number } | null {
  let width = 0;
  let need = 0;
  admitted.forEach((r, i) => {
    width = Math.max(width, r.promptLength);
    need = Math.max(need, r.promptLength - matches[i].length);
  });
  const length = width - need;
  const n = admitted.length;
  const { kvHeads, headDim, pastNames } = runner.io;
  let data: KvData[] = [];
  withMatches(cache, admitted, matches, over, () => {
    if (length > 0) data = pastNames.map(() => runner.newKvData(n * kvHeads * length * headDim));
    admitted.forEach((r, i) => {
      r.cachedTokens = Math.max(0, r.promptLength - need);
      if (r.cachedTokens > 0) cache.copyOut(matches[i], r.cachedTokens, data, i, length, length);
    });
  });
  return length > 0 ? { past: data.map((d) => runner.kvTensor(d, n, length)), length } : null;
}

/** Puts the fresh rows' prompts into the cache, within `room` tokens (what the running rows leave of the budget). */
export async function insertPrompts(cache: PrefixCache, runner: ModelRunner, fresh: RunningBatch<LiveRequest>, room: number): Promise<void> {
  // The batch's KV comes to the host (from a device, a download) once, for every row: each row's insert starts there.
  const start = now();
  let src;
  try {
    src = await fresh.kvSource(runner);
  } catch {
    // Only the cache misses out; the requests go on (a device that has failed fails their next run, which ends them).
    return;
  }
  fresh.rows.forEach((r, i) => {
    const change = cache.insert(r.inputIds, src.data, src.row(i), src.length, src.start(i), room);
    recordCacheInsert(r.trace, start, now(), change.evicted, cache.size);
  });
}

/**
 * Puts the ended rows' prompts and outputs into the cache, as SGLang's
 * radix cache does when a request finishes, so that a conversation's next
 * turn, which carries this answer, reuses it. A row's KV holds its prompt
 * and every output token but the last (never fed back). `keep` lists the
 * rows that go on; the cache keeps within what they leave of the budget.
 */
export async function insertOutputs(
  cache: PrefixCache,
  runner: ModelRunner,
  batch: RunningBatch<LiveRequest>,
  keep: readonly number[],
  scheduler: Scheduler<LiveRequest>,
): Promise<void> {
  const going = new Set(keep);
  const room = scheduler.limits.maxTotalTokens - scheduler.reserved(keep.map((i) => batch.rows[i]));
  const src = await batch.kvSource(runner);
  batch.rows.forEach((r, i) => {
    if (going.has(i) || r.outputIds.length < 2) return;
    cache.insert(r.inputIds.concat(r.outputIds.slice(0, -1)), src.data, src.row(i), src.length, src.start(i), room);
  });
}
