import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { KvData } from '../policy/prefix_cache.js';
import { GqaBatch } from './gqa_batch.js';
import type { BatchRow, ChunkTiming } from './running_batch.js';

/** A row's cached prefix on the host ([1, kv_heads, length, head_dim] per past tensor). */
export interface HostPrefix {
  data: KvData[];
  length: number;
}

/**
 * The prefill of rows joining a gqa batch, a chunk per step (the scheduler
 * loop runs decode steps of the running rows between them): each row in a
 * cache of its own, started from its cached prefix, one row at a time (see
 * GqaBatch.prefillChunk). Once every row is done, their caches become one
 * batch in one repack run.
 */
export class GqaPrefill<R extends BatchRow> {
  private next = 0;
  private current: GqaBatch<R> | null = null;
  private readonly done: GqaBatch<R>[] = [];
  private batch: GqaBatch<R> | null = null;
  private readonly logits: Float32Array;
  private readonly chunks: ChunkTiming[] = [];

  constructor(
    private readonly runner: ModelRunner,
    private readonly rows: readonly R[],
    private readonly prompts: readonly (readonly number[])[],
    /** Columns each row's cache has room for. */
    private readonly capacities: readonly number[],
    private readonly cached: readonly (HostPrefix | null)[],
    private readonly chunkTokens: number,
  ) {
    this.logits = new Float32Array(rows.length * runner.vocabSize);
  }

  get finished(): boolean {
    return this.batch !== null;
  }

  async step(): Promise<void> {
    try {
      const i = this.next;
      this.current ??= await GqaBatch.start(this.runner, this.rows[i], this.capacities[i], this.cached[i]);
      const { timing, logits } = await this.current.prefillChunk(this.runner, this.prompts[i], this.chunkTokens);
      this.chunks.push(timing);
      if (logits) this.rowDone(logits);
      if (this.next === this.rows.length) {
        const parts = this.done.map((batch) => ({ batch, keep: [0] }));
        this.batch = parts.length === 1 ? this.done[0] : await GqaBatch.repack(this.runner, parts, Math.max(...this.capacities));
      }
    } catch (err) {
      // The requests fail; their device memory goes now.
      this.current?.release(this.runner);
      for (const b of this.done) b.release(this.runner);
      throw err;
    }
  }

  private rowDone(logits: RowLogits): void {
    const vocab = this.runner.vocabSize;
    this.logits.set(logits.data.subarray(logits.offset(0), logits.offset(0) + vocab), this.next * vocab);
    this.done.push(this.current!);
    this.current = null;
    this.next++;
  }

  result(): { batch: GqaBatch<R>; logits: RowLogits; chunks: ChunkTiming[] } {
    const vocab = this.runner.vocabSize;
    return { batch: this.batch!, logits: { data: this.logits, vocabSize: vocab, offset: (row) => row * vocab }, chunks: this.chunks };
  }
}
