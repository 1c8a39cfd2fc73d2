import type { InferenceSession, Tensor, TypedTensor } from 'onnxruntime-node';
import { now } from '../../tracing/clock.js';
import type * as OrtModule from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import { openSession } from '../devices.js';
import type { Device } from '../devices.js';
import type { WorkerConfig } from '../../protocol.js';
import { halvesToFloats } from '../fp16.js';
import { encodeModel } from '../generator/onnx_proto.js';
import { buildRepackGraph, DONE_OUTPUT, kvInput, kvOutput, padsInput, rowsInput, TAIL_INPUT } from './kv_repack_graph.js';
import { onnxOutputNames } from './onnx_outputs.js';
import type { KvData } from '../policy/prefix_cache.js';

type Ort = typeof OrtModule;

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;
const NEW_KV = /^new_key_values\.(\d+)\.(key|value)$/;

/** The decoder's interface as read from the session. */
export interface DecoderIo {
  numLayers: number;
  kvHeads: number;
  headDim: number;
  kvType: 'float32' | 'float16';
  logitsType: 'float32' | 'float16';
  hasPositionIds: boolean;
  hasUseCacheBranch: boolean;
  pastNames: string[];
  /** The outputs that carry K/V back: present.* (dense: the whole cache) or new_key_values.* (slots: the new tokens only). */
  presentNames: string[];
  /**
   * The slot interface (sgl generator 3): past_key_values.* are slot buffers read in place,
   * with cache_lengths and last_index; outputs new_key_values.*. Otherwise the dense one.
   */
  slots: boolean;
  /** Whether a multi-token run on top of a past works (some exports take only prompts or single steps). */
  chunkedPrefill: boolean;
}

/** Last-position logits of each row, widened to float32 when the model emits fp16. */
export interface RowLogits {
  data: Float32Array;
  vocabSize: number;
  /** Offset of row `r` in `data`. */
  offset(row: number): number;
}

export interface ForwardInputs {
  batch: number;
  seq: number;
  inputIds: BigInt64Array;
  /** [batch, past + seq] */
  attentionMask: BigInt64Array;
  positionIds: BigInt64Array;
  /** One tensor per past input, in `pastNames` order; null for an empty cache. */
  past: readonly Tensor[] | null;
}

export interface ForwardOutputs {
  logits: RowLogits;
  present: Tensor[];
}

/** One run of a slot model over consecutive slots (rows right-padded to `seq`). */
export interface SlotInputs {
  batch: number;
  seq: number;
  inputIds: BigInt64Array;
  positionIds: BigInt64Array;
  /** Tokens each row already holds in its slot. */
  cacheLengths: BigInt64Array;
  /** The position within `seq` of each row's last real token (whose logits come back). */
  lastIndex: BigInt64Array;
  /** One slot-buffer view per past input [batch, kv_heads, capacity, head_dim], in `pastNames` order. */
  past: readonly Tensor[];
}

/** Bytes of a tensor held by the host (one on the device moves none). */
function hostBytes(t: Tensor): number {
  return t.location === 'cpu' ? (t.data as ArrayBufferView).byteLength : 0;
}

/** One source of a KV repack: a batch's past tensors, the rows kept from it, its padded length. */
export interface KvPart {
  past: readonly Tensor[];
  rows: readonly number[];
  length: number;
}

/**
 * Where the KV cache may stay on the device between runs: the present
 * outputs are left there (IO binding) and fed back as the next past. On
 * WebGPU only; CUDA keeps the cache on the host until a CUDA machine can
 * test the same path.
 */
function presentOnDevice(onnxPath: string): Partial<Record<Device, InferenceSession.SessionOptions>> {
  let names: string[];
  try {
    names = onnxOutputNames(onnxPath).filter((n) => PRESENT.test(n));
  } catch {
    // Unreadable here means unreadable to onnxruntime too, which says why when it loads it.
    return {};
  }
  if (names.length === 0) return {};
  const where: Record<string, OrtModule.Tensor.DataLocation> = {};
  for (const n of names) where[n] = 'gpu-buffer';
  return { webgpu: { preferredOutputLocation: where } };
}

/** Reads the decoder's inputs and outputs and checks that the engine can drive them. */
export function readDecoderIo(session: InferenceSession): DecoderIo {
  const inputs = new Set(session.inputNames);
  const outputs = new Set(session.outputNames);
  const missing: string[] = [];
  const slots = inputs.has('cache_lengths') && session.outputNames.some((n) => NEW_KV.test(n));
  for (const name of ['input_ids', ...(slots ? ['last_index', 'position_ids'] : ['attention_mask'])]) if (!inputs.has(name)) missing.push(`input ${name}`);
  if (!outputs.has('logits')) missing.push('output logits');
  const pastNames = session.inputNames.filter((n) => PAST.test(n));
  const numLayers = pastNames.length / 2;
  const outName = (l: number, kind: string): string => (slots ? `new_key_values.${l}.${kind}` : `present.${l}.${kind}`);
  if (pastNames.length === 0) missing.push('inputs past_key_values.{i}.key|value (the engine needs a decoder with a KV cache)');
  const ordered: string[] = [];
  const presentNames: string[] = [];
  for (let l = 0; l < numLayers; l++) {
    for (const kind of ['key', 'value']) {
      const past = `past_key_values.${l}.${kind}`;
      const present = outName(l, kind);
      if (!inputs.has(past)) missing.push(`input ${past}`);
      if (!outputs.has(present)) missing.push(`output ${present}`);
      ordered.push(past);
      presentNames.push(present);
    }
  }
  const extraPresent = session.outputNames.filter((n) => PRESENT.test(n) && !presentNames.includes(n));
  if (extraPresent.length) missing.push(`inputs matching ${extraPresent.join(', ')}`);
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch', 'cache_lengths', 'last_index', ...ordered]);
  const unknown = session.inputNames.filter((n) => !known.has(n));
  if (missing.length || unknown.length) {
    const parts = [];
    if (missing.length) parts.push(`it lacks ${missing.join(', ')}`);
    if (unknown.length) parts.push(`it has inputs the engine does not know how to feed: ${unknown.join(', ')}`);
    throw new ModelError(`The ONNX model cannot be driven as a decoder with a KV cache: ${parts.join('; ')}.`);
  }

  const meta = (name: string, list: readonly InferenceSession.ValueMetadata[]) => list.find((m) => m.name === name);
  const pastMeta = meta(ordered[0], session.inputMetadata);
  const logitsMeta = meta('logits', session.outputMetadata);
  if (!pastMeta?.isTensor || !logitsMeta?.isTensor) throw new ModelError('The ONNX model has non-tensor past_key_values or logits.');
  const kvType = pastMeta.type;
  const logitsType = logitsMeta.type;
  if ((kvType !== 'float32' && kvType !== 'float16') || (logitsType !== 'float32' && logitsType !== 'float16')) {
    throw new ModelError(`The engine drives float32 and float16 models; this one has ${kvType} past_key_values and ${logitsType} logits.`);
  }
  const [, kvHeads, , headDim] = pastMeta.shape;
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') {
    throw new ModelError(`past_key_values must have fixed kv_heads and head_dim dimensions; ${ordered[0]} has shape [${pastMeta.shape.join(', ')}].`);
  }
  return {
    numLayers,
    kvHeads,
    headDim,
    kvType,
    logitsType,
    hasPositionIds: inputs.has('position_ids'),
    hasUseCacheBranch: inputs.has('use_cache_branch'),
    pastNames: ordered,
    presentNames,
    slots,
    chunkedPrefill: true,
  };
}

/** One onnxruntime session of a decoder, run a batch at a time. */
export class ModelRunner {
  private readonly emptyPast = new Map<number, Tensor>();
  /** When this thread last handed a run to onnxruntime and so became free to read its messages (tracing clock). */
  yieldedAt = 0;
  private halfScratch = new Float32Array(0);
  /** Runs so far, and the bytes their tensors moved between host and device (counted on a GPU only; KV repacks included). */
  readonly transfers = { runs: 0, toDevice: 0, fromDevice: 0 };
  /** The KV repack graphs, by part count and whether their output goes to the host; built on first use. */
  private readonly repackSessions = new Map<string, Promise<InferenceSession>>();

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    readonly io: DecoderIo,
    readonly vocabSize: number,
    /** The device the session runs on, and why `auto` chose it. */
    readonly device: Device,
    /** Whether the present tensors stay on the device: the cache is repacked there, and comes to the host only when asked (kvToHost). */
    readonly kvOnDevice: boolean,
    readonly deviceWhy?: string,
  ) {}

  static async load(cfg: WorkerConfig): Promise<ModelRunner> {
    const ort: Ort = await import('onnxruntime-node');
    const placement = presentOnDevice(cfg.onnxPath);
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
      placement,
    );
    const session = opened.session;
    const io = readDecoderIo(session);
    const logitsShape = session.outputMetadata.find((m) => m.name === 'logits');
    const vocab = logitsShape?.isTensor ? logitsShape.shape[2] : undefined;
    if (typeof vocab !== 'number') throw new ModelError('The logits output must have a fixed vocabulary dimension [batch, seq, vocab].');
    const runner = new ModelRunner(ort, session, io, vocab, opened.device, placement[opened.device] !== undefined, opened.why);
    // A slot model takes any number of tokens on top of its cache by construction.
    if (!io.slots) io.chunkedPrefill = await runner.probeChunkedPrefill();
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
   * Repacks a cache on the device (kvOnDevice): the kept rows of each part,
   * in order, right-aligned to `length` columns, in one run of a small
   * Gather/Pad/Slice/Concat graph on the same provider; the cache never
   * crosses to the host. `toHost` brings the result to the host instead (the
   * prefix cache's copy of fresh prompts). Only row indices and pad widths
   * go up, and one element comes down (DONE_OUTPUT: the run ends when the
   * device has done the work).
   */
  async repackKv(parts: readonly KvPart[], length: number, toHost = false): Promise<Tensor[]> {
    const { Tensor } = this.ort;
    const session = await this.repackSession(parts.length, toHost);
    const feeds: Record<string, Tensor> = { [TAIL_INPUT]: new Tensor('int64', BigInt64Array.of(BigInt(-length)), [1]) };
    parts.forEach((part, p) => {
      feeds[rowsInput(p)] = new Tensor('int64', BigInt64Array.from(part.rows, BigInt), [part.rows.length]);
      feeds[padsInput(p)] = new Tensor('int64', BigInt64Array.of(0n, 0n, BigInt(Math.max(0, length - part.length)), 0n, 0n, 0n, 0n, 0n), [8]);
      part.past.forEach((t, i) => (feeds[kvInput(p, i)] = t));
    });
    const out = await session.run(feeds);
    const kv = this.io.pastNames.map((_, i) => out[kvOutput(i)]);
    for (const name in feeds) this.transfers.toDevice += hostBytes(feeds[name]);
    for (const name in out) this.transfers.fromDevice += hostBytes(out[name]);
    return kv;
  }

  /** The cache's data on the host, one array per past tensor; downloaded from the device when it lives there. */
  async kvToHost(past: readonly Tensor[], rows: number, length: number): Promise<KvData[]> {
    const host = this.kvOnDevice ? await this.repackKv([{ past, rows: Array.from({ length: rows }, (_, r) => r), length }], length, true) : past;
    return host.map((t) => t.data as KvData);
  }

  private repackSession(parts: number, toHost: boolean): Promise<InferenceSession> {
    const key = `${parts}:${toHost}`;
    let session = this.repackSessions.get(key);
    if (!session) {
      const tensors = this.io.pastNames.length;
      const graph = encodeModel(buildRepackGraph(parts, tensors, this.io.kvHeads, this.io.headDim, this.io.kvType));
      const where: Record<string, OrtModule.Tensor.DataLocation> = { [DONE_OUTPUT]: 'cpu' };
      for (let i = 0; i < tensors; i++) where[kvOutput(i)] = toHost ? 'cpu' : 'gpu-buffer';
      session = this.ort.InferenceSession.create(graph, { executionProviders: [this.device], preferredOutputLocation: where, logSeverityLevel: 3 });
      this.repackSessions.set(key, session);
    }
    return session;
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
  private async run(feeds: Record<string, Tensor>, quiet = false): Promise<InferenceSession.OnnxValueMapType> {
    // onnxruntime runs the graph off this thread: from here until it is done the event loop can read messages.
    this.yieldedAt = now();
    const out = await (quiet ? this.session.run(feeds, { logSeverityLevel: 4 }) : this.session.run(feeds));
    this.transfers.runs++;
    // On a GPU every input held by the host goes up, every output the host holds came down.
    if (this.device !== 'cpu') {
      for (const name in feeds) this.transfers.toDevice += hostBytes(feeds[name]);
      for (const name in out) this.transfers.fromDevice += hostBytes(out[name]);
    }
    return out;
  }

  /** A run of a slot model: the caches are read in place; returns each row's logits and the new tokens' K/V ([batch, kv_heads, seq, head_dim] each). */
  async forwardSlots(x: SlotInputs): Promise<ForwardOutputs> {
    const { Tensor } = this.ort;
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', x.inputIds, [x.batch, x.seq]),
      position_ids: new Tensor('int64', x.positionIds, [x.batch, x.seq]),
      cache_lengths: new Tensor('int64', x.cacheLengths, [x.batch]),
      last_index: new Tensor('int64', x.lastIndex, [x.batch]),
    };
    const names = this.io.pastNames;
    for (let i = 0; i < names.length; i++) feeds[names[i]] = x.past[i];
    const out = await this.run(feeds);
    return { logits: this.lastLogits(out.logits, x.batch, 1), present: this.io.presentNames.map((n) => out[n]) };
  }

  private lastLogits(t: Tensor, batch: number, seq: number): RowLogits {
    const vocab = this.vocabSize;
    if (this.io.logitsType === 'float32') {
      const data = (t as TypedTensor<'float32'>).data;
      return { data, vocabSize: vocab, offset: (row) => (row * seq + seq - 1) * vocab };
    }
    if (this.halfScratch.length < batch * vocab) this.halfScratch = new Float32Array(batch * vocab);
    const halves = (t as TypedTensor<'float16'>).data as unknown as Uint16Array;
    for (let r = 0; r < batch; r++) halvesToFloats(halves, (r * seq + seq - 1) * vocab, this.halfScratch.subarray(r * vocab), vocab);
    return { data: this.halfScratch, vocabSize: vocab, offset: (row) => row * vocab };
  }

  async release(): Promise<void> {
    for (const session of this.repackSessions.values()) await (await session).release();
    await this.session.release();
  }
}
