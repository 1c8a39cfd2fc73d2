import { now } from '../../tracing/clock.js';
import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { BatchRow, KvSource, RunningBatch } from './running_batch.js';
import type { SlotCache } from './slot_cache.js';

/** Where a prefill puts its rows: slots first.., in `order` (indices of the admitted rows, most tokens to run first). */
export interface SlotPlacement {
  first: number;
  order: number[];
}

/**
 * A batch of rows in consecutive slots of a SlotCache: the running batch
 * (from slot 0) or the rows of a prefill (after it). Joins and leaves move
 * no cache but the rows that fill holes (SlotBatch.repack).
 */
export class SlotBatch<R extends BatchRow = BatchRow> implements RunningBatch<R> {
  private constructor(
    private readonly cache: SlotCache,
    readonly rows: R[],
    /** The slot of row 0; row i is in slot first + i. */
    private readonly first: number,
    private readonly lengths: number[],
  ) {}

  static empty<R extends BatchRow>(cache: SlotCache): SlotBatch<R> {
    return new SlotBatch<R>(cache, [], 0, []);
  }

  /** The rows a finished prefill placed in slots first.., with their lengths. */
  static placed<R extends BatchRow>(cache: SlotCache, rows: R[], first: number, lengths: number[]): SlotBatch<R> {
    return new SlotBatch<R>(cache, rows, first, lengths);
  }

  get size(): number {
    return this.rows.length;
  }

  get kvTokens(): number {
    let sum = 0;
    for (const n of this.lengths) sum += n;
    return sum;
  }

  get pastLength(): number {
    let longest = 0;
    for (const n of this.lengths) longest = Math.max(longest, n);
    return longest;
  }

  rowLength(r: number): number {
    return this.lengths[r];
  }

  /**
   * Places `remaining.length` rows after the running ones, most tokens to
   * run first (so the rows still running in a chunk are always the first
   * ones: one contiguous view), making room for `capacity` tokens a slot.
   */
  static place<R extends BatchRow>(cache: SlotCache, running: SlotBatch<R>, remaining: readonly number[], capacity: number): SlotPlacement {
    cache.reserve(running.size + remaining.length, capacity, running.lengths);
    const order = remaining.map((_, i) => i).sort((a, b) => remaining[b] - remaining[a]);
    return { first: running.size, order };
  }

  /** One decode step over the running rows (slots 0..n-1): feeds each row's last token, writes its K/V into its slot. */
  async decode(runner: ModelRunner): Promise<{ logits: RowLogits; preparedAt: number }> {
    const n = this.rows.length;
    const inputIds = new BigInt64Array(n);
    const positionIds = new BigInt64Array(n);
    const lastIndex = new BigInt64Array(n);
    for (let r = 0; r < n; r++) {
      inputIds[r] = BigInt(this.rows[r].lastToken);
      positionIds[r] = BigInt(this.lengths[r]);
    }
    const preparedAt = now();
    const out = await runner.forwardSlots({
      batch: n,
      seq: 1,
      inputIds,
      positionIds,
      cacheLengths: positionIds,
      lastIndex,
      past: this.cache.view(this.first, n),
    });
    this.cache.write(out.present, this.first, n, 1, null, this.lengths);
    for (let r = 0; r < n; r++) this.lengths[r]++;
    return { logits: out.logits, preparedAt };
  }

  async kvSource(): Promise<KvSource> {
    return { data: this.cache.data, length: this.cache.capacity, row: (i) => this.first + i, start: () => 0 };
  }

  /** The slots are the cache's: a batch that no longer lists a row has freed its slot. */
  release(): void {}

  /**
   * The chosen rows of batches of one cache as the running batch (slots
   * 0..n-1): rows already below n stay where they are; the others move into
   * the free slots below n, lowest first. Only moved rows' tokens are copied.
   */
  static repack<R extends BatchRow>(parts: readonly { batch: SlotBatch<R>; keep: readonly number[] }[]): SlotBatch<R> {
    const kept: { row: R; slot: number; length: number }[] = [];
    let cache: SlotCache | null = null;
    for (const { batch, keep } of parts) {
      cache = batch.cache;
      for (const i of keep) kept.push({ row: batch.rows[i], slot: batch.first + i, length: batch.lengths[i] });
    }
    if (!cache || kept.length === 0) return new SlotBatch<R>(cache!, [], 0, []);
    const n = kept.length;
    const rows = new Array<R>(n);
    const lengths = new Array<number>(n);
    const taken = new Uint8Array(n);
    for (const k of kept) if (k.slot < n) taken[k.slot] = 1;
    let hole = 0;
    for (const k of kept) {
      let slot = k.slot;
      if (slot >= n) {
        while (taken[hole]) hole++;
        taken[hole] = 1;
        cache.move(slot, hole, k.length);
        slot = hole;
      }
      rows[slot] = k.row;
      lengths[slot] = k.length;
    }
    return new SlotBatch<R>(cache, rows, 0, lengths);
  }
}
