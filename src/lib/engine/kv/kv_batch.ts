import type { Tensor } from 'onnxruntime-node';
import { now } from '../../tracing/clock.js';
import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { KvData } from '../policy/prefix_cache.js';
import type { BatchRow, ChunkTiming, KvSource, RunningBatch } from './running_batch.js';

/**
 * The running batch's KV cache in the decoder's dense layout
 * [rows, kv_heads, length, head_dim], each row right-aligned (left padding).
 * While membership is unchanged the model's present tensors are fed straight
 * back as the next past; `repack` copies rows into a new layout only when
 * rows join or leave.
 */
export class KvBatch<R extends BatchRow = BatchRow> implements RunningBatch<R> {
  private constructor(
    readonly rows: R[],
    private past: Tensor[] | null,
    /** Padded length of the cache. */
    private length: number,
    /** Left padding of each row. */
    private readonly pads: number[],
  ) {}

  static empty<R extends BatchRow>(): KvBatch<R> {
    return new KvBatch<R>([], null, 0, []);
  }

  get size(): number {
    return this.rows.length;
  }

  /** Cache tokens this batch holds, padding included. */
  get kvTokens(): number {
    return this.rows.length * this.length;
  }

  /** Tokens of row `r` held in the cache. */
  rowLength(r: number): number {
    return this.length - this.pads[r];
  }

  /**
   * Runs the prompts of `rows` (left-padded to a common length) through the
   * model, at most `chunkTokens` padded tokens per run (chunked prefill), and
   * returns the batch with its cache, the last-position logits and when
   * each chunk's input preparation started, its run started and ended.
   * `cached` is the KV of the first `length` padded columns (prefixes from
   * the prefix cache, each row's right-aligned as its prompt is): the runs
   * start after them.
   */
  static async prefill<R extends BatchRow>(
    runner: ModelRunner,
    rows: R[],
    prompts: readonly (readonly number[])[],
    chunkTokens: number,
    cached: { past: Tensor[]; length: number } | null = null,
  ): Promise<{ batch: KvBatch<R>; logits: RowLogits; chunks: ChunkTiming[] }> {
    const n = rows.length;
    const width = Math.max(...prompts.map((p) => p.length));
    const pads = prompts.map((p) => width - p.length);
    const from = cached?.length ?? 0;
    const chunk = runner.io.chunkedPrefill ? Math.max(1, Math.floor(chunkTokens / n)) : width - from;
    let past: Tensor[] | null = cached?.past ?? null;
    // The previous chunk's cache, freed once the next has run on top of it (never the prefix cache's copy-in, which the host owns).
    let ours = false;
    let logits: RowLogits | null = null;
    const chunks: ChunkTiming[] = [];
    for (let start = from; start < width; start += chunk) {
      const prepareStart = now();
      const end = Math.min(width, start + chunk);
      const seq = end - start;
      const inputIds = new BigInt64Array(n * seq);
      const positionIds = new BigInt64Array(n * seq);
      const attentionMask = new BigInt64Array(n * end);
      for (let r = 0; r < n; r++) {
        const prompt = prompts[r];
        for (let j = start; j < end; j++) {
          const k = j - pads[r];
          if (k >= 0) {
            inputIds[r * seq + j - start] = BigInt(prompt[k]);
            positionIds[r * seq + j - start] = BigInt(k);
          }
        }
        attentionMask.fill(1n, r * end + Math.min(pads[r], end), (r + 1) * end);
      }
      const runStart = now();
      let out;
      try {
        out = await runner.forward({ batch: n, seq, inputIds, attentionMask, positionIds, past });
      } catch (err) {
        if (ours) runner.releaseKv(past);
        throw err;
      }
      chunks.push({ prepareStart, runStart, runEnd: now() });
      if (ours) runner.releaseKv(past);
      past = out.present;
      ours = true;
      logits = out.logits;
    }
    return { batch: new KvBatch<R>(rows, past, width, pads), logits: logits!, chunks };
  }

  /** The cache's data on the host ([rows, kv_heads, length, head_dim] each, rows right-aligned); downloaded when it lives on the device. */
  async kvSource(runner: ModelRunner): Promise<KvSource> {
    const data = this.past ? await runner.kvToHost(this.past, this.rows.length, this.length) : [];
    return { data, length: this.length, row: (i) => i, start: (i) => this.pads[i] };
  }

  /** Frees the cache (on a device, its memory); the batch is not used again. */
  release(runner: ModelRunner): void {
    runner.releaseKv(this.past);
    this.past = null;
  }

  /** Padded length of the cache before the next step (the past the model sees). */
  get pastLength(): number {
    return this.length;
  }

  /**
   * One decode step: feeds each row's last token, keeps the present tensors
   * as the new cache; returns the logits and when the inputs were ready.
   */
  async decode(runner: ModelRunner): Promise<{ logits: RowLogits; preparedAt: number }> {
    const n = this.rows.length;
    const total = this.length + 1;
    const inputIds = new BigInt64Array(n);
    const positionIds = new BigInt64Array(n);
    const attentionMask = new BigInt64Array(n * total);
    for (let r = 0; r < n; r++) {
      inputIds[r] = BigInt(this.rows[r].lastToken);
      positionIds[r] = BigInt(this.length - this.pads[r]);
      attentionMask.fill(1n, r * total + this.pads[r], (r + 1) * total);
    }
    const preparedAt = now();
    const out = await runner.forward({ batch: n, seq: 1, inputIds, attentionMask, positionIds, past: this.past });
    runner.releaseKv(this.past);
    this.past = out.present;
    this.length = total;
    return { logits: out.logits, preparedAt };
  }

  /**
   * A new batch holding the chosen rows of several batches, in order, each
   * right-aligned to the longest row. Leading columns that are padding in
   * every row are dropped. The source batches are used up: their caches
   * are freed. A cache on the device is repacked there (runner.repackKv);
   * on the host, here.
   */
  static async repack<R extends BatchRow>(runner: ModelRunner, parts: readonly { batch: KvBatch<R>; keep: readonly number[] }[]): Promise<KvBatch<R>> {
    try {
      return await KvBatch.gather(runner, parts);
    } finally {
      for (const { batch } of parts) batch.release(runner);
    }
  }

  private static async gather<R extends BatchRow>(runner: ModelRunner, parts: readonly { batch: KvBatch<R>; keep: readonly number[] }[]): Promise<KvBatch<R>> {
    const rows: R[] = [];
    const sources: { batch: KvBatch<R>; row: number }[] = [];
    for (const { batch, keep } of parts) {
      for (const r of keep) {
        rows.push(batch.rows[r]);
        sources.push({ batch, row: r });
      }
    }
    if (rows.length === 0) return KvBatch.empty<R>();
    const length = Math.max(...sources.map((s) => s.batch.rowLength(s.row)));
    const pads = sources.map((s) => length - s.batch.rowLength(s.row));
    if (runner.kvOnDevice) {
      const from = parts.filter((p) => p.keep.length > 0).map(({ batch, keep }) => ({ past: batch.past!, rows: keep, length: batch.length }));
      return new KvBatch<R>(rows, await runner.repackKv(from, length), length, pads);
    }
    const { kvHeads, headDim, pastNames } = runner.io;
    const past: Tensor[] = [];
    for (let t = 0; t < pastNames.length; t++) {
      const dst = runner.newKvData(rows.length * kvHeads * length * headDim);
      sources.forEach((s, i) => {
        const src = s.batch.past![t].data as KvData;
        const srcLen = s.batch.length;
        const valid = s.batch.rowLength(s.row) * headDim;
        for (let h = 0; h < kvHeads; h++) {
          const from = ((s.row * kvHeads + h) * srcLen + s.batch.pads[s.row]) * headDim;
          const to = ((i * kvHeads + h) * length + pads[i]) * headDim;
          (dst as Float32Array).set((src as Float32Array).subarray(from, from + valid), to);
        }
      });
      past.push(runner.kvTensor(dst, rows.length, length));
    }
    return new KvBatch<R>(rows, past, length, pads);
  }
}
