import { KvBatch } from '../kv/kv_batch.js';
import type { ChunkTiming, RunningBatch } from '../kv/running_batch.js';
import { SlotBatch } from '../kv/slot_batch.js';
import type { SlotPlacement } from '../kv/slot_batch.js';
import { SlotCache } from '../kv/slot_cache.js';
import { SlotPrefill } from '../kv/slot_prefill.js';
import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { PrefixCache, PrefixMatch } from '../policy/prefix_cache.js';
import { reservation } from '../policy/scheduler.js';
import type { EngineLimits } from '../../protocol.js';
import { copyIntoDense, copyIntoRows, copyIntoSlots } from './copy_in.js';
import { GqaBatch } from '../kv/gqa_batch.js';
import { GqaPrefill } from '../kv/gqa_prefill.js';
import type { LiveRequest } from './live_request.js';

/** What a prefill hands the join: the fresh rows' batch, their last logits, the chunks it ran. */
export interface PrefillResult {
  batch: RunningBatch<LiveRequest>;
  logits: RowLogits;
  chunks: ChunkTiming[];
}

/** A prefill in progress: the scheduler loop runs it a step at a time (slots: a chunk; dense: the whole of it). */
export interface Prefilling {
  step(): Promise<void>;
  readonly finished: boolean;
  result(): PrefillResult;
}

/** Where the prefix cache comes in: the matches admission made, and how far the cache is over the budget with the admitted rows in. */
export interface CacheIn {
  cache: PrefixCache;
  matches: readonly PrefixMatch[];
  over: () => number;
}

/**
 * How the worker's running batch is laid out, decided once from the model:
 * the dense batch (KvBatch) or slots (SlotBatch over a SlotCache). The
 * scheduler loop asks it for empty batches, prefills and repacks, and never
 * branches on the layout itself.
 */
export interface BatchLayout {
  readonly name: 'dense' | 'slots' | 'gqa';
  /** A join always rebatches (slots: the fresh rows sit after where the running ones were placed; the batch starts at slot 0). */
  readonly joinRebatches: boolean;
  /** A repack's slice starts when it runs (slots: it moves only the rows that fill holes), not at the step's `t`. */
  readonly repackTimedAlone: boolean;
  /**
   * The prefix cache takes in what an ending request generated: its KV is
   * read where it lies (slots; the dense batch on the host), but not when
   * the dense batch is on a device, where reading it is a download of the
   * whole batch at every step where a request ends.
   */
  readonly cachesOutputs: boolean;
  empty(): RunningBatch<LiveRequest>;
  startPrefill(running: RunningBatch<LiveRequest>, admitted: LiveRequest[], cacheIn: CacheIn | null): Prefilling;
  repack(parts: { batch: RunningBatch<LiveRequest>; keep: readonly number[] }[]): Promise<RunningBatch<LiveRequest>>;
  /** With no row running: makes the cache's memory resident until `deadline` (performance.now() ms); says whether more remains. */
  warm?(deadline: number): boolean;
}

/** The layout a runner's model takes, as its graph meets the cache (the slots share their arrays with the prefix cache's pages). */
export function batchLayout(runner: ModelRunner, limits: EngineLimits, contextLength: number, cache: PrefixCache | null): BatchLayout {
  const layout = runner.io.layout;
  return layout === 'slots'
    ? new SlotLayout(runner, limits, contextLength, cache)
    : layout === 'gqa'
      ? new GqaLayout(runner, limits, contextLength)
      : new DenseLayout(runner, limits);
}

class DenseLayout implements BatchLayout {
  readonly name = 'dense';
  readonly joinRebatches = false;
  readonly repackTimedAlone = false;
  readonly cachesOutputs: boolean;

  constructor(
    private readonly runner: ModelRunner,
    private readonly limits: EngineLimits,
  ) {
    this.cachesOutputs = !runner.kvOnDevice;
  }

  empty(): RunningBatch<LiveRequest> {
    return KvBatch.empty();
  }

  /** The whole prefill in one step: a dense batch joins only once every chunk has run. */
  startPrefill(_running: RunningBatch<LiveRequest>, admitted: LiveRequest[], cacheIn: CacheIn | null): Prefilling {
    let out: PrefillResult | null = null;
    return {
      step: async () => {
        const cached = cacheIn ? copyIntoDense(cacheIn.cache, this.runner, admitted, cacheIn.matches, cacheIn.over) : null;
        const prompts = admitted.map((r) => r.inputIds);
        out = await KvBatch.prefill(this.runner, admitted, prompts, this.limits.maxPrefillTokens, cached);
      },
      get finished() {
        return out !== null;
      },
      result: () => out!,
    };
  }

  repack(parts: { batch: RunningBatch<LiveRequest>; keep: readonly number[] }[]): Promise<RunningBatch<LiveRequest>> {
    return KvBatch.repack(this.runner, parts as { batch: KvBatch<LiveRequest>; keep: readonly number[] }[]);
  }
}

class SlotLayout implements BatchLayout {
  readonly name = 'slots';
  readonly joinRebatches = true;
  readonly repackTimedAlone = true;
  readonly cachesOutputs = true;
  private readonly slots: SlotCache;

  constructor(
    private readonly runner: ModelRunner,
    private readonly limits: EngineLimits,
    contextLength: number,
    cache: PrefixCache | null,
  ) {
    this.slots = new SlotCache(runner, limits.maxRunningRequests, contextLength, limits.maxTotalTokens);
    if (cache) {
      cache.useArena(this.slots);
      this.slots.tail = cache;
    }
  }

  empty(): RunningBatch<LiveRequest> {
    return SlotBatch.empty(this.slots);
  }

  /**
   * Places the admitted rows in slots after the running ones and starts
   * their prefill: each row starts after its own cached prefix (copied
   * straight into its slot), so no row recomputes what the prefix cache holds.
   */
  startPrefill(running: RunningBatch<LiveRequest>, admitted: LiveRequest[], cacheIn: CacheIn | null): Prefilling {
    const cached = admitted.map((_, i) => cacheIn?.matches[i].length ?? 0);
    let capacity = 0;
    for (const r of running.rows) capacity = Math.max(capacity, reservation(r));
    for (const r of admitted) capacity = Math.max(capacity, reservation(r));
    const remaining = admitted.map((r, i) => r.promptLength - cached[i]);
    const place = (): SlotPlacement => SlotBatch.place(this.slots, running as SlotBatch<LiveRequest>, remaining, capacity);
    const at = cacheIn ? copyIntoSlots(cacheIn.cache, this.slots, place, admitted, cacheIn.matches, cacheIn.over) : place();
    const prompts = admitted.map((r) => r.inputIds);
    return new SlotPrefill(this.runner, this.slots, at, admitted, prompts, cached, this.limits.maxPrefillTokens);
  }

  async repack(parts: { batch: RunningBatch<LiveRequest>; keep: readonly number[] }[]): Promise<RunningBatch<LiveRequest>> {
    return SlotBatch.repack(parts as { batch: SlotBatch<LiveRequest>; keep: readonly number[] }[]);
  }

  warm(deadline: number): boolean {
    return this.slots.warm(deadline);
  }
}

/**
 * GroupQueryAttention in place (gqa models): the batch's cache lives where
 * the model runs (on a GPU, on the device) and is written a column a step;
 * joins and leaves are repack runs there, as for the dense batch. Rows
 * prefill one at a time, a chunk per turn of the scheduler loop.
 */
class GqaLayout implements BatchLayout {
  readonly name = 'gqa';
  readonly joinRebatches = false;
  readonly repackTimedAlone = false;
  readonly cachesOutputs: boolean;

  constructor(
    private readonly runner: ModelRunner,
    private readonly limits: EngineLimits,
    private readonly contextLength: number,
  ) {
    this.cachesOutputs = !runner.kvOnDevice;
  }

  /** Columns a row's cache needs: its prompt and every token it may generate, within the context. */
  private capacity(r: LiveRequest): number {
    return Math.min(reservation(r), this.contextLength);
  }

  empty(): RunningBatch<LiveRequest> {
    return GqaBatch.empty();
  }

  startPrefill(_running: RunningBatch<LiveRequest>, admitted: LiveRequest[], cacheIn: CacheIn | null): Prefilling {
    const cached = cacheIn ? copyIntoRows(cacheIn.cache, this.runner, admitted, cacheIn.matches, cacheIn.over) : admitted.map(() => null);
    const prompts = admitted.map((r) => r.inputIds);
    return new GqaPrefill(
      this.runner,
      admitted,
      prompts,
      admitted.map((r) => this.capacity(r)),
      cached,
      this.limits.maxPrefillTokens,
    );
  }

  repack(parts: { batch: RunningBatch<LiveRequest>; keep: readonly number[] }[]): Promise<RunningBatch<LiveRequest>> {
    let capacity = 0;
    for (const { batch, keep } of parts) for (const i of keep) capacity = Math.max(capacity, this.capacity(batch.rows[i]));
    return GqaBatch.repack(this.runner, parts as { batch: GqaBatch<LiveRequest>; keep: readonly number[] }[], capacity);
  }
}
