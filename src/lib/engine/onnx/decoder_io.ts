import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type * as OrtModule from 'onnxruntime-node';
import { ModelError } from '../../errors.js';
import type { Device } from '../devices.js';
import type { KvLayoutKind } from '../generator/llama_graph.js';
import type { GraphOutline } from './onnx_outputs.js';

/** The names of a decoder's past and present KV tensors. */
const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
export const PRESENT = /^present\.(\d+)\.(key|value)$/;
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
   * How the graph meets the cache. `slots` (sgl generator 3): past_key_values.* are slot
   * buffers read in place, with cache_lengths and last_index; outputs new_key_values.*.
   * `gqa` (generator 4): the same inputs, and present.* is the past updated in place when
   * fetched into the same buffer. `dense`: the Optimum interface, the whole cache in and out.
   */
  layout: KvLayoutKind;
  /**
   * How a run of a slot or gqa model learns each row's place: sgl's `cache_lengths` and `last_index` inputs, or
   * (onnxruntime-genai's GroupQueryAttention exports) `attention_mask`, whose ones in a row count its cached
   * and new tokens (the graph sums them into GroupQueryAttention's seqlens_k). Dense models take the mask.
   */
  rowLengths: 'cache_lengths' | 'attention_mask';
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

/** One source of a KV repack: a batch's past tensors, the rows kept from it, its padded length. */
export interface KvPart {
  past: readonly Tensor[];
  rows: readonly number[];
  length: number;
}

/** The operators whose nodes the engine reads from a graph before loading it (onnxGraphOutline). */
export const OUTLINE_OPS = ['GroupQueryAttention'];

/**
 * Whether a graph with the dense interface is an onnxruntime-genai
 * GroupQueryAttention export that can update its cache in place (genai's
 * past_present_share_buffer): every past input is the past of a
 * GroupQueryAttention node whose present outputs are the same layer's
 * present outputs. Such a model runs as the gqa layout, its row lengths
 * given by the attention mask.
 */
export function sharesPastAndPresent(outline: GraphOutline): boolean {
  const past = outline.inputs.filter((n) => PAST.test(n));
  if (past.length === 0 || outline.inputs.includes('cache_lengths') || !outline.inputs.includes('attention_mask')) return false;
  const shared = new Set<string>();
  for (const n of outline.nodes) {
    if (n.op !== 'GroupQueryAttention') continue;
    for (const [input, output] of [
      [n.inputs[3], n.outputs[1]],
      [n.inputs[4], n.outputs[2]],
    ]) {
      if (input && PAST.test(input) && output === input.replace('past_key_values', 'present') && outline.outputs.includes(output)) shared.add(input);
    }
  }
  return past.every((n) => shared.has(n));
}

/**
 * Where the KV cache may stay on the device between runs: the present
 * outputs are left there (IO binding) and fed back as the next past. On
 * WebGPU only; CUDA keeps the cache on the host until a CUDA machine can
 * test the same path. `kvOnDevice` says whether it does; `options` are the
 * session's options there. A gqa model (cache_lengths in, present.* out, or
 * a genai export that shares past and present) keeps its cache there by
 * having it fetched into the past tensors, which the binding honours only
 * for outputs left at their default location: it gets none. `outline` is
 * null when the file could not be read (onnxruntime says why when it loads it).
 */
export function presentOnDevice(outline: GraphOutline | null): { options: Partial<Record<Device, InferenceSession.SessionOptions>>; kvOnDevice: Device[] } {
  if (!outline) return { options: {}, kvOnDevice: [] };
  const present = outline.outputs.filter((n) => PRESENT.test(n));
  if (present.length === 0) return { options: {}, kvOnDevice: [] };
  if (outline.inputs.includes('cache_lengths') || sharesPastAndPresent(outline)) return { options: {}, kvOnDevice: ['webgpu'] };
  const where: Record<string, OrtModule.Tensor.DataLocation> = {};
  for (const n of present) where[n] = 'gpu-buffer';
  return { options: { webgpu: { preferredOutputLocation: where } }, kvOnDevice: ['webgpu'] };
}

/**
 * Reads the decoder's inputs and outputs and checks that the engine can
 * drive them; `sharedGqa`: the graph shares past and present
 * (sharesPastAndPresent), so a dense interface runs as the gqa layout.
 */
export function readDecoderIo(session: InferenceSession, sharedGqa = false): DecoderIo {
  const inputs = new Set(session.inputNames);
  const outputs = new Set(session.outputNames);
  const missing: string[] = [];
  const rowLengths = inputs.has('cache_lengths') ? 'cache_lengths' : 'attention_mask';
  const layout: KvLayoutKind =
    rowLengths === 'attention_mask' ? (sharedGqa ? 'gqa' : 'dense') : session.outputNames.some((n) => NEW_KV.test(n)) ? 'slots' : 'gqa';
  const slots = layout === 'slots';
  for (const name of ['input_ids', ...(rowLengths === 'attention_mask' ? ['attention_mask'] : ['last_index', 'position_ids'])])
    if (!inputs.has(name)) missing.push(`input ${name}`);
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
    layout,
    rowLengths,
    chunkedPrefill: true,
  };
}
