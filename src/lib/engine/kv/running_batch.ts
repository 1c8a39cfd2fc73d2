import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { KvData } from '../policy/prefix_cache.js';

/** A row of a batch: which request it is and the last token it produced or was given. */
export interface BatchRow {
  rid: string;
  lastToken: number;
}

/** When one prefill chunk's input preparation started, and its onnxruntime run started and ended. */
export interface ChunkTiming {
  prepareStart: number;
  runStart: number;
  runEnd: number;
}

/**
 * Where each row's KV lies in host arrays (one per past tensor, each
 * [rows, kv_heads, length, head_dim]): row `i` of the batch is row `row(i)`
 * of the arrays, its first token at column `start(i)`.
 */
export interface KvSource {
  data: readonly KvData[];
  length: number;
  row(i: number): number;
  start(i: number): number;
}

/**
 * The running batch as the scheduler loop drives it, whatever its layout:
 * the dense one (KvBatch: rows × padded length, repacked on joins and
 * leaves) or slots (SlotBatch: each row in a slot of a cache allocated once,
 * written in place).
 */
export interface RunningBatch<R extends BatchRow> {
  readonly rows: R[];
  readonly size: number;
  /** Cache tokens the batch holds (dense: padding included). */
  readonly kvTokens: number;
  /** The longest past a step attends to. */
  readonly pastLength: number;
  /** Tokens of row `r` held in the cache. */
  rowLength(r: number): number;
  /** One decode step: feeds each row's last token; returns the logits and when the inputs were ready. */
  decode(runner: ModelRunner): Promise<{ logits: RowLogits; preparedAt: number }>;
  /** The rows' KV on the host (from a device, a download), for the prefix cache. */
  kvSource(runner: ModelRunner): Promise<KvSource>;
  /** Frees what only this batch holds; the batch is not used again. */
  release(runner: ModelRunner): void;
}
