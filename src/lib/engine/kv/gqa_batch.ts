import type { Tensor } from 'onnxruntime-node';
import { now } from '../../tracing/clock.js';
import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { KvData } from '../policy/prefix_cache.js';
import type { BatchRow, ChunkTiming, KvSource, RunningBatch } from './running_batch.js';

/**
 * The running batch of a gqa model (generator 4): one cache per past tensor,
 * [rows, kv_heads, capacity, head_dim], each row from column 0 with its own
 * length. A step fetches the model's present outputs into these same
 * tensors, so GroupQueryAttention writes the new tokens' columns in place:
 * on a GPU the cache stays on the device and nothing but the logits and a
 * few int64s crosses per step. Rows joining or leaving are one repack run
 * on the device (runner.repackKv), as for the dense batch there.
 */
export class GqaBatch<R extends BatchRow = BatchRow> implements RunningBatch<R> {
  private constructor(
    readonly rows: R[],
    private past: Tensor[] | null,
    private readonly lengths: number[],
    /** Columns each row has room for. */
    readonly capacity: number,
  ) {}

  static empty<R extends BatchRow>(): GqaBatch<R> {
    return new GqaBatch<R>([], null, [], 0);
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
   * A cache of one row with room for `capacity` columns, holding `cached`
   * (the KV of a cached prefix, on the host: [1, kv_heads, length, head_dim]
   * each) or nothing: only the prefix goes up, the device pads it.
   */
  static async start<R extends BatchRow>(
    runner: ModelRunner,
    row: R,
    capacity: number,
    cached: { data: readonly KvData[]; length: number } | null,
  ): Promise<GqaBatch<R>> {
    const { kvHeads, headDim, pastNames } = runner.io;
    // At least one column goes up (a zero-sized input crashes the WebGPU provider); the row's length says it is not held.
    const length = Math.max(1, cached?.length ?? 0);
    const past = pastNames.map((_, t) =>
      runner.kvTensor(cached ? (cached.data[t] as Float32Array | Uint16Array) : runner.newKvData(kvHeads * length * headDim), 1, length),
    );
    const cache = await runner.repackKv([{ past, rows: [0], length }], capacity, false, true);
    return new GqaBatch<R>([row], cache, [cached?.length ?? 0], capacity);
  }

  /**
   * Runs up to `chunk` of this one-row batch's prompt tokens (from its
   * length on) into the cache; returns when the run started and ended, and
   * the logits once the prompt is done. One row at a time: GroupQueryAttention
   * takes several tokens on top of a past only for a batch of one.
   */
  async prefillChunk(runner: ModelRunner, prompt: readonly number[], chunk: number): Promise<{ timing: ChunkTiming; logits: RowLogits | null }> {
    const prepareStart = now();
    const from = this.lengths[0];
    const seq = Math.min(chunk, prompt.length - from);
    const inputIds = new BigInt64Array(seq);
    const positionIds = new BigInt64Array(seq);
    for (let j = 0; j < seq; j++) {
      inputIds[j] = BigInt(prompt[from + j]);
      positionIds[j] = BigInt(from + j);
    }
    const runStart = now();
    const cacheLengths = BigInt64Array.of(BigInt(from));
    const out = await runner.forwardSlots({
      batch: 1,
      seq,
      inputIds,
      positionIds,
      cacheLengths,
      lastIndex: BigInt64Array.of(BigInt(seq - 1)),
      past: this.past!,
    });
    this.lengths[0] = from + seq;
    return { timing: { prepareStart, runStart, runEnd: now() }, logits: this.lengths[0] === prompt.length ? out.logits : null };
  }

  async decode(runner: ModelRunner): Promise<{ logits: RowLogits; preparedAt: number }> {
    const n = this.rows.length;
    const inputIds = new BigInt64Array(n);
    const positions = new BigInt64Array(n);
    for (let r = 0; r < n; r++) {
      inputIds[r] = BigInt(this.rows[r].lastToken);
      positions[r] = BigInt(this.lengths[r]);
    }
    const preparedAt = now();
    const out = await runner.forwardSlots({
      batch: n,
      seq: 1,
      inputIds,
      positionIds: positions,
      cacheLengths: positions,
      lastIndex: new BigInt64Array(n),
      past: this.past!,
    });
    for (let r = 0; r < n; r++) this.lengths[r]++;
    return { logits: out.logits, preparedAt };
  }

  /** The rows' KV on the host, [rows, kv_heads, longest, head_dim] each (from a device, a download of the columns held). */
  async kvSource(runner: ModelRunner): Promise<KvSource> {
    const length = this.pastLength;
    const rows = this.rows.map((_, i) => i);
    const host = this.past && length > 0 ? await runner.repackKv([{ past: this.past, rows, length: this.capacity }], length, true, true) : [];
    return { data: host.map((t) => t.data as KvData), length, row: (i) => i, start: () => 0 };
  }

  release(runner: ModelRunner): void {
    runner.releaseKv(this.past);
    this.past = null;
  }

  /**
   * A new batch holding the chosen rows of several batches, in order, with
   * room for `capacity` columns a row: one repack run where the caches live.
   * The source batches are used up.
   */
  static async repack<R extends BatchRow>(
    runner: ModelRunner,
    parts: readonly { batch: GqaBatch<R>; keep: readonly number[] }[],
    capacity: number,
  ): Promise<GqaBatch<R>> {
    try {
      const rows: R[] = [];
      const lengths: number[] = [];
      const from = [];
      for (const { batch, keep } of parts) {
        if (keep.length === 0) continue;
        for (const r of keep) {
          rows.push(batch.rows[r]);
          lengths.push(batch.lengths[r]);
        }
        from.push({ past: batch.past!, rows: keep, length: batch.capacity });
      }
      if (rows.length === 0) return GqaBatch.empty<R>();
      return new GqaBatch<R>(rows, await runner.repackKv(from, capacity, false, true), lengths, capacity);
    } finally {
      for (const { batch } of parts) batch.release(runner);
    }
  }
}
