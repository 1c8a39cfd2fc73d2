import { now } from '../../tracing/clock.js';
import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { BatchRow, ChunkTiming } from './running_batch.js';
import { SlotBatch } from './slot_batch.js';
import type { SlotPlacement } from './slot_batch.js';
import type { SlotCache } from './slot_cache.js';

/**
 * A prefill into placed slots, a chunk at a time, so that the scheduler
 * loop can run decode steps of the running rows between chunks. Each row
 * starts after its first cached[i] tokens (copied in from the prefix
 * cache); a chunk runs at most `chunkTokens` tokens (rows right-padded to
 * the longest left in it). Rows are ordered by tokens left, so the rows
 * with any left are always the first `active`: one contiguous view.
 */
export class SlotPrefill<R extends BatchRow> {
  readonly chunks: ChunkTiming[] = [];
  private readonly prompt: (readonly number[])[];
  private readonly done: number[];
  private readonly logits: Float32Array;
  private active: number;

  constructor(
    private readonly runner: ModelRunner,
    private readonly cache: SlotCache,
    private readonly at: SlotPlacement,
    private readonly rows: readonly R[],
    prompts: readonly (readonly number[])[],
    cached: readonly number[],
    private readonly chunkTokens: number,
  ) {
    this.prompt = at.order.map((i) => prompts[i]);
    this.done = at.order.map((i) => cached[i]);
    this.logits = new Float32Array(at.order.length * runner.vocabSize);
    this.active = at.order.length;
  }

  get finished(): boolean {
    return this.active === 0;
  }

  /** Runs the next chunk. */
  async step(): Promise<void> {
    const { runner, cache, at, prompt, done } = this;
    const active = this.active;
    const vocab = runner.vocabSize;
    const prepareStart = now();
    const seq = Math.min(prompt[0].length - done[0], Math.max(1, Math.floor(this.chunkTokens / active)));
    const inputIds = new BigInt64Array(active * seq);
    const positionIds = new BigInt64Array(active * seq);
    const cacheLengths = new BigInt64Array(active);
    const lastIndex = new BigInt64Array(active);
    const counts = new Int32Array(active);
    let columns = 0;
    for (let b = 0; b < active; b++) {
      const n = Math.min(seq, prompt[b].length - done[b]);
      counts[b] = n;
      cacheLengths[b] = BigInt(done[b]);
      lastIndex[b] = BigInt(n - 1);
      columns = Math.max(columns, done[b]);
      for (let j = 0; j < n; j++) {
        inputIds[b * seq + j] = BigInt(prompt[b][done[b] + j]);
        positionIds[b * seq + j] = BigInt(done[b] + j);
      }
    }
    // A chunk attends over every column it is given: over the slots in place, seq × capacity; over a copy of
    // the columns the rows hold, seq × columns plus the copy. The copy wins unless the slots are mostly full.
    const past = seq * (cache.capacity - columns) > 16 * columns ? cache.prefix(at.first, active, columns) : cache.view(at.first, active);
    const runStart = now();
    const out = await runner.forwardSlots({ batch: active, seq, inputIds, positionIds, cacheLengths, lastIndex, past });
    cache.write(out.present, at.first, active, seq, counts, done);
    let still = 0;
    for (let b = 0; b < active; b++) {
      done[b] += counts[b];
      if (done[b] < prompt[b].length) still++;
      else this.logits.set(out.logits.data.subarray(out.logits.offset(b), out.logits.offset(b) + vocab), b * vocab);
    }
    this.chunks.push({ prepareStart, runStart, runEnd: now() });
    this.active = still;
  }

  /** Once finished: the batch of the new rows (in placement order) and each row's logits after its last prompt token. */
  result(): { batch: SlotBatch<R>; logits: RowLogits; chunks: ChunkTiming[] } {
    const vocab = this.runner.vocabSize;
    const batch = SlotBatch.placed(
      this.cache,
      this.at.order.map((i) => this.rows[i]),
      this.at.first,
      this.done,
    );
    return { batch, logits: { data: this.logits, vocabSize: vocab, offset: (row) => row * vocab }, chunks: this.chunks };
  }
}
