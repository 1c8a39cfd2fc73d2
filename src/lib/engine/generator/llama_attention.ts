import type { LlamaConfig } from './llama_weights.js';
import { DataType } from './onnx_proto.js';
import type { GraphBuilder } from './graph_builder.js';

/**
 * How the graph meets the KV cache. `dense` (generator 2) is the Optimum /
 * onnx-community interface: inputs input_ids, attention_mask, position_ids,
 * past_key_values.{i}.key|value [batch, kv_heads, past, head_dim]; outputs
 * the logits of the last position [batch, 1, vocab] and present.{i}.key|value,
 * the past with the new tokens concatenated: a copy of the whole cache per run.
 *
 * `slots` (generator 3) never copies the cache. past_key_values.{i} are the
 * engine's slot buffers [batch, kv_heads, capacity, head_dim], read where
 * they lie (onnxruntime wraps host inputs without a copy); a row's first
 * cache_lengths[row] columns are valid. The outputs are the new tokens' K/V
 * only, new_key_values.{i}.key|value [batch, kv_heads, seq, head_dim], which
 * the engine writes into its slots, and the logits of each row's token at
 * last_index[row] [batch, 1, vocab]: the rows of a prefill are right-padded.
 *
 * `gqa` (generator 4) has the slot inputs, but its attention is
 * com.microsoft GroupQueryAttention and it returns the cache itself,
 * present.{i}.key|value [batch, kv_heads, capacity, head_dim]: bound to the
 * same buffer as the past (a fetch that is the past tensor), onnxruntime
 * writes only the new tokens' columns, in place. That is what keeps a cache
 * on a GPU without copying it each step; the CPU binding copies every
 * output it returns, so on the CPU `slots` is faster. A run of several
 * tokens on top of a past takes one row (GroupQueryAttention's limit).
 */
export type KvLayoutKind = 'dense' | 'slots' | 'gqa';

/**
 * The element type of the KV cache. float16 halves the bytes a decode step
 * reads; only the gqa layout has it (GroupQueryAttention runs in fp16 over
 * an fp16 cache; the rest of the graph stays fp32). On the CPU it is slower
 * (onnxruntime widens fp16 as it goes, docs/engine.md), on a GPU it is the
 * bandwidth a step needs.
 */
export type KvDtype = 'float32' | 'float16';

/** Attention of one layer: the heads' context merged back, [batch, seq, heads * head_dim]. */
export type Attention = (layer: number, q: string, kNew: string, vNew: string) => string;

/** The attention of a LLaMA layer as the KV layout has it meet the cache (see KvLayoutKind). */
export function attentionFor(layout: KvLayoutKind, g: GraphBuilder, c: LlamaConfig, kvDtype: KvDtype = 'float32', genai = false): Attention {
  const groups = c.numHeads / c.numKvHeads;
  const axis0 = g.int64('axis_0', [0]);
  const axis1 = g.int64('axis_1', [1]);
  const axis3 = g.int64('axis_3', [3]);
  const axis123 = g.int64('axes_1_2_3', [1, 2, 3]);
  const one = g.int64('one', [1], []);
  const zero = g.int64('zero', [0], []);
  const sliceLo = g.int64('slice_lo', [0]);
  const scale = g.float('attn_scale', Float32Array.of(1 / Math.sqrt(c.headDim)), []);
  const maskZero = g.float('mask_zero', Float32Array.of(0), []);
  const maskMin = g.float('mask_min', Float32Array.of(-1e9), []);
  const groupShape = g.int64('group_shape', [0, c.numKvHeads, groups, -1, c.headDim]);
  const headsShape = g.int64('heads_shape', [0, c.numHeads, -1, c.headDim]);
  const mergeShape = g.int64('merge_shape', [0, 0, c.numHeads * c.headDim]);
  const merge = (ctx: string): string => g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [ctx, headsShape])], { perm: [0, 2, 1, 3] }), mergeShape]);

  /** Attention over the past concatenated with the new tokens ([batch, kv_heads, groups, seq, dim] out). */
  const denseAttention = (): Attention => {
    // Attention bias [batch, 1, 1, seq, total]: causal within the new tokens,
    // and padding columns of attention_mask masked out.
    const total = g.op('Gather', [g.op('Shape', ['attention_mask']), one], { axis: 0 });
    const seq = g.op('Gather', [g.op('Shape', ['input_ids']), one], { axis: 0 });
    const past = g.op('Sub', [total, seq]);
    const queryPos = g.op('Range', [past, total, one]);
    const keyPos = g.op('Range', [zero, total, one]);
    const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyPos, axis0]), g.op('Unsqueeze', [queryPos, axis1])]);
    const padMask = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: DataType.BOOL }), axis123]);
    const allowed = g.op('And', [causal, padMask]);
    const bias = g.op('Where', [allowed, maskZero, maskMin]);
    return (l, q, kNew, vNew) => {
      const p = `layers.${l}`;
      const k = g.op('Concat', [`past_key_values.${l}.key`, kNew], { axis: 2 }, `present.${l}.key`);
      const v = g.op('Concat', [`past_key_values.${l}.value`, vNew], { axis: 2 }, `present.${l}.value`);
      // Grouped-query attention without copying KV heads: queries are grouped
      // [batch, kv_heads, groups, seq, dim] and broadcast against [batch, kv_heads, 1, total, dim].
      const qGrouped = g.op('Reshape', [q, groupShape]);
      const kT = g.op('Unsqueeze', [g.op('Transpose', [k], { perm: [0, 1, 3, 2] }), g.int64(`${p}.axis2`, [2])]);
      const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [qGrouped, kT]), scale]), bias]);
      const probs = g.op('Softmax', [scores], { axis: -1 });
      return merge(g.op('MatMul', [probs, g.op('Unsqueeze', [v, `${p}.axis2`])]));
    };
  };

  /**
   * Attention over the slot buffers read in place, beside the new tokens
   * ([batch, kv_heads, groups * seq, dim] out). A KV head's queries are the
   * rows of one product, so each cached K and V element is read once, where
   * it lies (FusedMatMul's transB: no transposed copy of the cache).
   */
  const slotAttention = (): Attention => {
    const seq = g.op('Gather', [g.op('Shape', ['input_ids']), one], { axis: 0 });
    const capacity = g.op('Gather', [g.op('Shape', ['past_key_values.0.key']), g.int64('two', [2], [])], { axis: 0 });
    // Cache columns a row sees: its first cache_lengths[row] ([batch, 1, 1, capacity]).
    const cols = g.op('Range', [zero, capacity, one]);
    const valid = g.op('Less', [g.op('Unsqueeze', [cols, axis0]), g.op('Unsqueeze', ['cache_lengths', axis1])]);
    const pastBias = g.op('Unsqueeze', [g.op('Where', [valid, maskZero, maskMin]), g.int64('axes_1_2', [1, 2])]);
    // Causal among the new tokens; query row i of a group is token i mod seq ([groups * seq, seq]).
    const queryPos = g.op('Mod', [g.op('Range', [zero, g.op('Mul', [seq, g.int64('groups', [groups], [])]), one]), seq]);
    const keyPos = g.op('Range', [zero, seq, one]);
    const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyPos, axis0]), g.op('Unsqueeze', [queryPos, axis1])]);
    const newBias = g.op('Where', [causal, maskZero, maskMin]);
    const split = g.op('Unsqueeze', [capacity, axis0]);
    const rowsShape = g.int64('group_rows_shape', [0, c.numKvHeads, -1, c.headDim]);
    const end = g.int64('slice_end', [Number.MAX_SAFE_INTEGER]);
    const alpha = { float: 1 / Math.sqrt(c.headDim) };
    return (l, q, kNew, vNew) => {
      g.op('Identity', [kNew], undefined, `new_key_values.${l}.key`);
      g.op('Identity', [vNew], undefined, `new_key_values.${l}.value`);
      const qRows = g.op('Reshape', [q, rowsShape]);
      const pastScores = g.op('FusedMatMul', [qRows, `past_key_values.${l}.key`], { transB: 1, alpha }, undefined, 'com.microsoft');
      const newScores = g.op('FusedMatMul', [qRows, kNew], { transB: 1, alpha }, undefined, 'com.microsoft');
      const scores = g.op('Concat', [g.op('Add', [pastScores, pastBias]), g.op('Add', [newScores, newBias])], { axis: 3 });
      const probs = g.op('Softmax', [scores], { axis: -1 });
      const pastProbs = g.op('Slice', [probs, sliceLo, split, axis3]);
      const newProbs = g.op('Slice', [probs, split, end, axis3]);
      return merge(g.op('Add', [g.op('MatMul', [pastProbs, `past_key_values.${l}.value`]), g.op('MatMul', [newProbs, vNew])]));
    };
  };

  /**
   * GroupQueryAttention over the cache, writing the new tokens' K/V into it
   * at each row's cache_lengths (seqlens_k: a row's length after the run,
   * less one). Rotary embeddings stay ours, applied before. With an fp16
   * cache the attention's inputs are narrowed to fp16 and its output widened back.
   */
  const gqaAttention = (): Attention => {
    let seqlensK: string;
    let total: string;
    if (genai) {
      // onnxruntime-genai's interface: a row's ones in attention_mask count its cached and new tokens.
      seqlensK = g.op('Cast', [g.op('Sub', [g.op('ReduceSum', ['attention_mask', axis1], { keepdims: 0 }), one])], { to: DataType.INT32 });
      total = g.op('Cast', [g.op('Gather', [g.op('Shape', ['attention_mask']), one], { axis: 0 })], { to: DataType.INT32 });
    } else {
      const seqlens = g.op('Sub', [g.op('Add', ['cache_lengths', g.op('Gather', [g.op('Shape', ['input_ids']), one], { axis: 0 })]), one]);
      seqlensK = g.op('Cast', [seqlens], { to: DataType.INT32 });
      total = g.op('Cast', [g.op('Add', [g.op('ReduceMax', [seqlens], { keepdims: 0 }), one])], { to: DataType.INT32 });
    }
    const tokenShape = g.int64('token_shape', [0, 0, -1]);
    const half = kvDtype === 'float16';
    const tokens = (x: string): string => {
      const merged = g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 1, 3] }), tokenShape]);
      return half ? g.op('Cast', [merged], { to: DataType.FLOAT16 }) : merged;
    };
    const attributes = {
      num_heads: c.numHeads,
      kv_num_heads: c.numKvHeads,
      scale: { float: 1 / Math.sqrt(c.headDim) },
      // genai's exports rotate inside the attention (positions from seqlens_k), with the graph's tables.
      ...(genai ? { do_rotary: 1, rotary_interleaved: 0 } : {}),
    };
    const rotary = genai ? ['rope_cos', 'rope_sin'] : [];
    return (l, q, kNew, vNew) => {
      const outputs = [`layers.${l}.attention${half ? '.fp16' : ''}`, `present.${l}.key`, `present.${l}.value`];
      g.multi(
        'GroupQueryAttention',
        [tokens(q), tokens(kNew), tokens(vNew), `past_key_values.${l}.key`, `past_key_values.${l}.value`, seqlensK, total, ...rotary],
        outputs,
        attributes,
        'com.microsoft',
      );
      return half ? g.op('Cast', [outputs[0]], { to: DataType.FLOAT }) : outputs[0];
    };
  };

  if (kvDtype === 'float16' && layout !== 'gqa') throw new Error(`An fp16 KV cache needs the gqa layout, not ${layout}.`);
  if (genai && (layout !== 'gqa' || kvDtype !== 'float32')) throw new Error("onnxruntime-genai's interface is built for the gqa layout with an fp32 cache.");
  return layout === 'dense' ? denseAttention() : layout === 'slots' ? slotAttention() : gqaAttention();
}
