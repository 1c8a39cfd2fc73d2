import type { Tensor } from 'onnxruntime-node';
import type * as OrtModule from 'onnxruntime-node';
import type { KvData } from '../policy/prefix_cache.js';
import type { DecoderIo, SlotInputs } from './decoder_io.js';

/** What the outputs need of their ModelRunner: its model's shapes, and its way to make and wrap K/V arrays. */
interface RunnerKv {
  readonly io: DecoderIo;
  readonly vocabSize: number;
  newKvData(elements: number): KvData;
  kvTensor(data: KvData, batch: number, length: number): Tensor;
}

// Arrays a slot or gqa run fills anew each run, kept from run to run instead of allocated per run.

/** A slot run's outputs, fetched into kept arrays: the map onnxruntime fills, and its tensors. */
export interface SlotFetches {
  fetches: Record<string, Tensor | null>;
  logits: Tensor;
  present: Tensor[];
}

/**
 * A slot model's outputs on the CPU, written by onnxruntime into arrays kept
 * run to run (grown, never shrunk): a plain fetch gets a fresh array per
 * output and run, garbage the next run leaves behind again (6.4 MB of logits
 * a step at 32 rows on base), whose pages fault on their first write.
 */
export class SlotOutputs {
  private present: KvData[] = [];
  private logits: Float32Array | Uint16Array = new Float32Array(0);
  /** The decode steps' fetch maps, by batch size (a step's shapes are few; a prefill chunk's are not kept). */
  private readonly steps = new Map<number, SlotFetches>();

  constructor(
    private readonly ort: typeof OrtModule,
    private readonly runner: RunnerKv,
  ) {}

  /** Fetches for a run of `batch` rows of `seq` new tokens each: logits [batch, 1, vocab], new K/V [batch, kv_heads, seq, head_dim]. */
  fetches(batch: number, seq: number): SlotFetches {
    return (seq === 1 && this.steps.get(batch)) || this.make(batch, seq);
  }

  private make(batch: number, seq: number): SlotFetches {
    const { kvHeads, headDim, presentNames, logitsType } = this.runner.io;
    const kv = batch * kvHeads * seq * headDim;
    if (!this.present.length || this.present[0].length < kv) {
      const size = Math.max(kv, Math.ceil(1.5 * (this.present[0]?.length ?? 0)));
      this.present = presentNames.map(() => this.runner.newKvData(size));
      this.steps.clear();
    }
    const vocab = this.runner.vocabSize;
    if (this.logits.length < batch * vocab) {
      const size = Math.max(batch * vocab, Math.ceil(1.5 * this.logits.length));
      this.logits = logitsType === 'float16' ? new Uint16Array(size) : new Float32Array(size);
      this.steps.clear();
    }
    const logits = new this.ort.Tensor(logitsType, this.logits.subarray(0, batch * vocab), [batch, 1, vocab]);
    const present = this.present.map((d) => this.runner.kvTensor(d.subarray(0, kv), batch, seq));
    const fetches: Record<string, Tensor | null> = { logits };
    for (let i = 0; i < presentNames.length; i++) fetches[presentNames[i]] = present[i];
    const made = { fetches, logits, present };
    if (seq === 1) this.steps.set(batch, made);
    return made;
  }
}

/**
 * The attention mask that tells a genai GroupQueryAttention export where each row stands: row b's first
 * cacheLengths[b] + lastIndex[b] + 1 columns are ones (its cached and new tokens), as wide as the longest.
 */
export class LengthMask {
  private scratch = new BigInt64Array(0);

  constructor(private readonly ort: typeof OrtModule) {}

  of(x: SlotInputs): Tensor {
    let width = 0;
    for (let b = 0; b < x.batch; b++) width = Math.max(width, Number(x.cacheLengths[b] + x.lastIndex[b]) + 1);
    if (this.scratch.length < x.batch * width) this.scratch = new BigInt64Array(Math.max(x.batch * width, 2 * this.scratch.length));
    const mask = this.scratch.subarray(0, x.batch * width);
    for (let b = 0; b < x.batch; b++) {
      const ones = Number(x.cacheLengths[b] + x.lastIndex[b]) + 1;
      mask.fill(1n, b * width, b * width + ones);
      mask.fill(0n, b * width + ones, (b + 1) * width);
    }
    return new this.ort.Tensor('int64', mask, [x.batch, width]);
  }
}
