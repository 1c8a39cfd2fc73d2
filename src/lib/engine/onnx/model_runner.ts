import type { InferenceSession, Tensor, TypedTensor } from 'onnxruntime-node';
import { now } from '../../tracing/clock.js';
import type * as OrtModule from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { openSession } from '../devices.js';
import type { Device } from '../devices.js';
import type { WorkerConfig } from '../../protocol.js';
import { halvesToFloats } from '../fp16.js';
import { hostBytes, KvRepacker } from './kv_repacker.js';
import type { KvData } from '../policy/prefix_cache.js';
import { OUTLINE_OPS, presentOnDevice, readDecoderIo, sharesPastAndPresent } from './decoder_io.js';
import { onnxGraphOutline } from './onnx_outputs.js';
import { LengthMask, SlotOutputs } from './slot_outputs.js';
import type { GraphOutline } from './onnx_outputs.js';
import type { DecoderIo, ForwardInputs, ForwardOutputs, KvPart, RowLogits, SlotInputs } from './decoder_io.js';

export type { DecoderIo, ForwardInputs, ForwardOutputs, KvPart, RowLogits, SlotInputs } from './decoder_io.js';

type Ort = typeof OrtModule;

/** One onnxruntime session of a decoder, run a batch at a time. */
export class ModelRunner {
  private readonly emptyPast = new Map<number, Tensor>();
  /** When this thread last handed a run to onnxruntime and so became free to read its messages (tracing clock). */
  yieldedAt = 0;
  private halfScratch = new Float32Array(0);
  /** The attention mask of a gqa model that takes one (rowLengths 'attention_mask'), kept run to run. */
  private readonly mask: LengthMask;
  /** A slot model's outputs on the CPU, fetched into arrays kept run to run (null: fresh arrays, see `reuseOutputs`). */
  private readonly slotOutputs: SlotOutputs | null;
  /** False: plain fetches, a fresh array per output and run (the baseline bench/slot_outputs.ts measures against). */
  reuseOutputs = true;
  /** Runs so far, and the bytes their tensors moved between host and device (counted on a GPU only; KV repacks included). */
  readonly transfers = { runs: 0, toDevice: 0, fromDevice: 0 };
  /** Joins and leaves where the cache lives: the KV repack graphs. */
  private readonly repacker: KvRepacker;

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    readonly io: DecoderIo,
    readonly vocabSize: number,
    /** The device the session runs on, and why `auto` chose it. */
    readonly device: Device,
    /** Whether the present tensors stay on the device: the cache is repacked there, and comes to the host only when asked (kvToHost). */
    readonly kvOnDevice: boolean,
    /** Whether the logits are [batch, 1, vocab] (each row's last token's), as sgl's graphs give them. */
    lastLogitsOnly: boolean,
    readonly deviceWhy?: string,
  ) {
    this.repacker = new KvRepacker(ort, io, device, kvOnDevice, this.transfers);
    this.mask = new LengthMask(ort);
    this.slotOutputs = io.layout === 'slots' && device === 'cpu' && lastLogitsOnly ? new SlotOutputs(ort, this) : null;
  }

  static async load(cfg: WorkerConfig): Promise<ModelRunner> {
    const ort: Ort = await import('onnxruntime-node');
    let outline: GraphOutline | null = null;
    try {
      outline = onnxGraphOutline(cfg.onnxPath, OUTLINE_OPS);
    } catch {
      // Unreadable here means unreadable to onnxruntime too, which says why when it loads it.
    }
    const placement = presentOnDevice(outline);
    const opened = await openSession(
      ort,
      cfg.onnxPath,
      cfg.device,
      {
        intraOpNumThreads: cfg.intraOpThreads,
        interOpNumThreads: cfg.interOpThreads,
        graphOptimizationLevel: 'all',
        // Every step has a new shape (the past grows; prompts vary): memory-pattern
        // planning per shape made each prefill ~30 ms on the tiny model and decode 40% slower.
        enableMemPattern: false,
        // Warnings only (a GPU provider leaves shape ops to the CPU and says so on every session); errors still throw.
        logSeverityLevel: 3,
      },
      placement.options,
    );
    const session = opened.session;
    const io = readDecoderIo(session, outline !== null && sharesPastAndPresent(outline));
    const logitsShape = session.outputMetadata.find((m) => m.name === 'logits');
    const vocab = logitsShape?.isTensor ? logitsShape.shape[2] : undefined;
    if (typeof vocab !== 'number') throw new ModelError('The logits output must have a fixed vocabulary dimension [batch, seq, vocab].');
    const lastOnly = logitsShape?.isTensor === true && logitsShape.shape[1] === 1;
    const runner = new ModelRunner(ort, session, io, vocab, opened.device, placement.kvOnDevice.includes(opened.device), lastOnly, opened.why);
    // A slot model takes any number of tokens on top of its cache by construction.
    if (io.layout === 'dense') io.chunkedPrefill = await runner.probeChunkedPrefill();
    return runner;
  }

  /**
   * Runs two tokens on top of a one-token past. onnxruntime-genai exports
   * reject that (their mask subgraph expects a prompt or a single step);
   * for them a long prompt is prefilled in one run instead of in chunks.
   */
  private async probeChunkedPrefill(): Promise<boolean> {
    const ids = (n: number): BigInt64Array => new BigInt64Array(n);
    const ones = (n: number): BigInt64Array => new BigInt64Array(n).fill(1n);
    let first: ForwardOutputs | null = null;
    try {
      first = await this.forward({ batch: 1, seq: 1, inputIds: ids(1), attentionMask: ones(1), positionIds: ids(1), past: null }, true);
      const second = await this.forward(
        { batch: 1, seq: 2, inputIds: ids(2), attentionMask: ones(3), positionIds: BigInt64Array.of(1n, 2n), past: first.present },
        true,
      );
      this.releaseKv(second.present);
      return true;
    } catch {
      return false;
    } finally {
      this.releaseKv(first?.present ?? null);
    }
  }

  /** Frees past tensors that are no longer any batch's cache: device memory now, not when the collector gets to them. Host ones are left to it. */
  releaseKv(past: readonly Tensor[] | null): void {
    if (!this.kvOnDevice || !past) return;
    for (const t of past) if (t.location === 'gpu-buffer') t.dispose();
  }

  /**
   * Repacks a cache where it lives (on a GPU, on the device): the kept rows of each part, in order, in
   * `length` columns, dense rows right-aligned, gqa rows from column 0 (`alignLeft`); `toHost` brings the
   * result to the host (KvRepacker.repack).
   */
  repackKv(parts: readonly KvPart[], length: number, toHost = false, alignLeft = false): Promise<Tensor[]> {
    return this.repacker.repack(parts, length, toHost, alignLeft);
  }

  /** The cache's data on the host, one array per past tensor; downloaded from the device when it lives there. */
  async kvToHost(past: readonly Tensor[], rows: number, length: number): Promise<KvData[]> {
    const host = this.kvOnDevice ? await this.repackKv([{ past, rows: Array.from({ length: rows }, (_, r) => r), length }], length, true) : past;
    return host.map((t) => t.data as KvData);
  }

  /** A past tensor of length 0 for a batch of `batch` rows (no cache yet). */
  private empty(batch: number): Tensor {
    let t = this.emptyPast.get(batch);
    if (!t) {
      const data = this.io.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0);
      t = new this.ort.Tensor(this.io.kvType, data, [batch, this.io.kvHeads, 0, this.io.headDim]);
      this.emptyPast.set(batch, t);
    }
    return t;
  }

  /** Builds a past tensor from raw element data. */
  kvTensor(data: Float32Array | Uint16Array, batch: number, length: number): Tensor {
    return new this.ort.Tensor(this.io.kvType, data, [batch, this.io.kvHeads, length, this.io.headDim]);
  }

  newKvData(elements: number): Float32Array | Uint16Array {
    return this.io.kvType === 'float16' ? new Uint16Array(elements) : new Float32Array(elements);
  }

  /** `quiet` keeps onnxruntime from logging an expected failure (the capability probe). */
  async forward(x: ForwardInputs, quiet = false): Promise<ForwardOutputs> {
    const { Tensor } = this.ort;
    const total = x.attentionMask.length / x.batch;
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', x.inputIds, [x.batch, x.seq]),
      attention_mask: new Tensor('int64', x.attentionMask, [x.batch, total]),
    };
    if (this.io.hasPositionIds) feeds.position_ids = new Tensor('int64', x.positionIds, [x.batch, x.seq]);
    if (this.io.hasUseCacheBranch) feeds.use_cache_branch = new Tensor('bool', Uint8Array.of(x.past ? 1 : 0), [1]);
    const names = this.io.pastNames;
    for (let i = 0; i < names.length; i++) feeds[names[i]] = x.past ? x.past[i] : this.empty(x.batch);

    const out = await this.run(feeds, quiet);
    // Logits of every position ([batch, seq, vocab], most exports) or of the last only ([batch, 1, vocab], sgl's generated models).
    return { logits: this.lastLogits(out.logits, x.batch, out.logits.dims[1]), present: this.io.presentNames.map((n) => out[n]) };
  }

  /** One decoder run, counted: the runs so far and, on a GPU, the bytes its host tensors moved. */
  private async run(feeds: Record<string, Tensor>, quiet = false, fetches?: Record<string, Tensor | null>): Promise<InferenceSession.OnnxValueMapType> {
    // onnxruntime runs the graph off this thread: from here until it is done the event loop can read messages.
    this.yieldedAt = now();
    const options = quiet ? { logSeverityLevel: 4 as const } : {};
    const out = await (fetches ? this.session.run(feeds, fetches as InferenceSession.FetchesType, options) : this.session.run(feeds, options));
    this.transfers.runs++;
    // On a GPU every input held by the host goes up, every output the host holds came down
    // (an output fetched into a past tensor is that tensor: counted once, as it went up).
    if (this.device !== 'cpu') {
      for (const name in feeds) this.transfers.toDevice += hostBytes(feeds[name]);
      for (const name in out) if (!fetches?.[name]) this.transfers.fromDevice += hostBytes(out[name]);
    }
    return out;
  }

  /**
   * A run of a slot or gqa model over caches read in place: each row's logits and, from a slot model, the new
   * tokens' K/V ([batch, kv_heads, seq, head_dim] each). A gqa model's present outputs are fetched into the
   * past tensors themselves: it writes the new columns there (on a GPU, on the device), and `present` is the past.
   */
  async forwardSlots(x: SlotInputs): Promise<ForwardOutputs> {
    const { Tensor } = this.ort;
    const feeds: Record<string, Tensor> = { input_ids: new Tensor('int64', x.inputIds, [x.batch, x.seq]) };
    if (this.io.rowLengths === 'cache_lengths') {
      feeds.cache_lengths = new Tensor('int64', x.cacheLengths, [x.batch]);
      feeds.last_index = new Tensor('int64', x.lastIndex, [x.batch]);
    } else feeds.attention_mask = this.mask.of(x);
    if (this.io.hasPositionIds) feeds.position_ids = new Tensor('int64', x.positionIds, [x.batch, x.seq]);
    const names = this.io.pastNames;
    for (let i = 0; i < names.length; i++) feeds[names[i]] = x.past[i];
    if (this.io.layout !== 'gqa') {
      if (!this.slotOutputs || !this.reuseOutputs) {
        const out = await this.run(feeds);
        return { logits: this.lastLogits(out.logits, x.batch, 1), present: this.io.presentNames.map((n) => out[n]) };
      }
      const into = this.slotOutputs.fetches(x.batch, x.seq);
      await this.run(feeds, false, into.fetches);
      return { logits: this.lastLogits(into.logits, x.batch, 1), present: into.present };
    }
    const fetches: Record<string, Tensor | null> = { logits: null };
    for (let i = 0; i < names.length; i++) fetches[this.io.presentNames[i]] = x.past[i];
    const out = await this.run(feeds, false, fetches);
    // sgl's graphs return each row's last token's logits; a genai export returns every position's.
    return { logits: this.lastLogits(out.logits, x.batch, out.logits.dims[1], x.lastIndex), present: [...x.past] };
  }

  /** Each row's logits at its last token (`lastIndex`, else the last position) of [batch, seq, vocab]. */
  private lastLogits(t: Tensor, batch: number, seq: number, lastIndex?: BigInt64Array): RowLogits {
    const vocab = this.vocabSize;
    const at = (row: number): number => (row * seq + (seq > 1 && lastIndex ? Number(lastIndex[row]) : seq - 1)) * vocab;
    if (this.io.logitsType === 'float32') {
      const data = (t as TypedTensor<'float32'>).data;
      return { data, vocabSize: vocab, offset: at };
    }
    if (this.halfScratch.length < batch * vocab) this.halfScratch = new Float32Array(batch * vocab);
    const halves = (t as TypedTensor<'float16'>).data as unknown as Uint16Array;
    for (let r = 0; r < batch; r++) halvesToFloats(halves, at(r), this.halfScratch.subarray(r * vocab), vocab);
    return { data: this.halfScratch, vocabSize: vocab, offset: (row) => row * vocab };
  }

  async release(): Promise<void> {
    await this.repacker.release();
    await this.session.release();
  }
}
