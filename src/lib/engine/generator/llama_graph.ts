import type { LlamaConfig, LlamaWeights } from './llama_weights.js';
import { rotaryTables } from './llama_weights.js';
import type { ModelInit } from './onnx_proto.js';
import { DataType } from './onnx_proto.js';
import { GraphBuilder } from './graph_builder.js';

const OPSET = 17;

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
 */
export type KvLayoutKind = 'dense' | 'slots';

/** Builds a LLaMA decoder whose attention meets the KV cache as `layout` says. */
export function buildLlamaGraph(c: LlamaConfig, w: LlamaWeights, metadata: Record<string, string>, layout: KvLayoutKind): ModelInit {
  const g = new GraphBuilder();
  const h = c.hiddenSize;
  const groups = c.numHeads / c.numKvHeads;
  const half = c.headDim / 2;

  // Shared constants.
  const axis0 = g.int64('axis_0', [0]);
  const axis1 = g.int64('axis_1', [1]);
  const axis123 = g.int64('axes_1_2_3', [1, 2, 3]);
  const one = g.int64('one', [1], []);
  const zero = g.int64('zero', [0], []);
  const eps = g.float('rms_eps', Float32Array.of(c.rmsNormEps), []);
  const scale = g.float('attn_scale', Float32Array.of(1 / Math.sqrt(c.headDim)), []);
  const maskZero = g.float('mask_zero', Float32Array.of(0), []);
  const maskMin = g.float('mask_min', Float32Array.of(-1e9), []);
  const rope = rotaryTables(c);
  const cosTable = g.float('rope_cos', rope.cos, [c.maxPositions, half]);
  const sinTable = g.float('rope_sin', rope.sin, [c.maxPositions, half]);
  const qShape = g.int64('q_shape', [0, 0, c.numHeads, c.headDim]);
  const kvShape = g.int64('kv_shape', [0, 0, c.numKvHeads, c.headDim]);
  const groupShape = g.int64('group_shape', [0, c.numKvHeads, groups, -1, c.headDim]);
  const headsShape = g.int64('heads_shape', [0, c.numHeads, -1, c.headDim]);
  const mergeShape = g.int64('merge_shape', [0, 0, c.numHeads * c.headDim]);
  const sliceLo = g.int64('slice_lo', [0]);
  const sliceMid = g.int64('slice_mid', [half]);
  const sliceHi = g.int64('slice_hi', [c.headDim]);
  const axis3 = g.int64('axis_3', [3]);

  type Attention = (layer: number, q: string, kNew: string, vNew: string) => string;

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
      return g.op('MatMul', [probs, g.op('Unsqueeze', [v, `${p}.axis2`])]);
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
      return g.op('Add', [g.op('MatMul', [pastProbs, `past_key_values.${l}.value`]), g.op('MatMul', [newProbs, vNew])]);
    };
  };

  const attention = layout === 'dense' ? denseAttention() : slotAttention();

  // Rotary tables gathered once per run: [batch, 1, seq, half].
  const cos = g.op('Unsqueeze', [g.op('Gather', [cosTable, 'position_ids'], { axis: 0 }), axis1]);
  const sin = g.op('Unsqueeze', [g.op('Gather', [sinTable, 'position_ids'], { axis: 0 }), axis1]);

  const rmsNorm = (x: string, weight: string): string => {
    const meanSq = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Sqrt', [g.op('Add', [meanSq, eps])]);
    return g.op('Mul', [g.op('Div', [x, inv]), weight]);
  };
  const applyRope = (x: string): string => {
    const x1 = g.op('Slice', [x, sliceLo, sliceMid, axis3]);
    const x2 = g.op('Slice', [x, sliceMid, sliceHi, axis3]);
    const o1 = g.op('Sub', [g.op('Mul', [x1, cos]), g.op('Mul', [x2, sin])]);
    const o2 = g.op('Add', [g.op('Mul', [x2, cos]), g.op('Mul', [x1, sin])]);
    return g.op('Concat', [o1, o2], { axis: 3 });
  };
  const heads = (x: string, shape: string): string => g.op('Transpose', [g.op('Reshape', [x, shape])], { perm: [0, 2, 1, 3] });

  const embed = g.weight('embed_tokens', w.embed, [c.vocabSize, h]);
  let x = g.op('Gather', [embed, 'input_ids'], { axis: 0 });

  w.layers.forEach((lw, l) => {
    const p = `layers.${l}`;
    const normed = rmsNorm(x, g.weight(`${p}.input_layernorm`, lw.inputNorm, [h]));
    const q = applyRope(heads(g.op('MatMul', [normed, g.weight(`${p}.q_proj`, lw.q, [h, c.numHeads * c.headDim])]), qShape));
    const kNew = applyRope(heads(g.op('MatMul', [normed, g.weight(`${p}.k_proj`, lw.k, [h, c.numKvHeads * c.headDim])]), kvShape));
    const vNew = heads(g.op('MatMul', [normed, g.weight(`${p}.v_proj`, lw.v, [h, c.numKvHeads * c.headDim])]), kvShape);
    const ctx = attention(l, q, kNew, vNew);
    const merged = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [ctx, headsShape])], { perm: [0, 2, 1, 3] }), mergeShape]);
    x = g.op('Add', [x, g.op('MatMul', [merged, g.weight(`${p}.o_proj`, lw.o, [c.numHeads * c.headDim, h])])]);

    const normed2 = rmsNorm(x, g.weight(`${p}.post_attention_layernorm`, lw.postNorm, [h]));
    const gate = g.op('MatMul', [normed2, g.weight(`${p}.gate_proj`, lw.gate, [h, c.intermediateSize])]);
    const up = g.op('MatMul', [normed2, g.weight(`${p}.up_proj`, lw.up, [h, c.intermediateSize])]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, g.op('MatMul', [act, g.weight(`${p}.down_proj`, lw.down, [c.intermediateSize, h])])]);
  });

  let lastHidden: string;
  if (layout === 'dense') {
    // Only the last position goes through the LM head: the engine samples from nothing else (it left-pads, so
    // every row ends there), and a prompt's [seq, vocab] logits were most of a prefill's memory and of what a GPU sends back.
    const finalNormed = rmsNorm(x, g.weight('norm', w.finalNorm, [h]));
    lastHidden = g.op('Slice', [finalNormed, g.int64('last_lo', [-1]), g.int64('last_hi', [Number.MAX_SAFE_INTEGER]), axis1]);
  } else {
    // Slot rows are right-padded: each row's token at last_index goes through the LM head.
    const rows = g.op('Gather', [g.op('Shape', ['input_ids']), zero], { axis: 0 });
    const seq = g.op('Gather', [g.op('Shape', ['input_ids']), one], { axis: 0 });
    const flat = g.op('Add', [g.op('Mul', [g.op('Range', [zero, rows, one]), seq]), 'last_index']);
    const tokens = g.op('Gather', [g.op('Reshape', [x, g.int64('token_rows', [-1, h])]), flat], { axis: 0 });
    lastHidden = rmsNorm(g.op('Unsqueeze', [tokens, axis1]), g.weight('norm', w.finalNorm, [h]));
  }
  const lmHead = g.op('Transpose', [embed], { perm: [1, 0] });
  g.op('MatMul', [lastHidden, lmHead], undefined, 'logits');

  const kvInputs = [];
  const kvOutputs = [];
  for (let l = 0; l < c.numLayers; l++) {
    for (const kind of ['key', 'value']) {
      if (layout === 'dense') {
        kvInputs.push({
          name: `past_key_values.${l}.${kind}`,
          dataType: DataType.FLOAT,
          shape: ['batch_size', c.numKvHeads, 'past_sequence_length', c.headDim],
        });
        kvOutputs.push({ name: `present.${l}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', c.numKvHeads, 'total_sequence_length', c.headDim] });
      } else {
        kvInputs.push({ name: `past_key_values.${l}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', c.numKvHeads, 'cache_capacity', c.headDim] });
        kvOutputs.push({ name: `new_key_values.${l}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', c.numKvHeads, 'sequence_length', c.headDim] });
      }
    }
  }
  const stepInputs =
    layout === 'dense'
      ? [{ name: 'attention_mask', dataType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] }]
      : [
          { name: 'cache_lengths', dataType: DataType.INT64, shape: ['batch_size'] },
          { name: 'last_index', dataType: DataType.INT64, shape: ['batch_size'] },
        ];
  return {
    graphName: 'sgl_llama',
    producer: 'sgl',
    opset: OPSET,
    ...(layout === 'slots' ? { extraOpsets: { 'com.microsoft': 1 } } : {}),
    metadata,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'input_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      ...stepInputs,
      { name: 'position_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      ...kvInputs,
    ],
    outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['batch_size', 1, c.vocabSize] }, ...kvOutputs],
  };
}
