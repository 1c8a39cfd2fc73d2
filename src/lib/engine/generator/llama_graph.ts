import type { LlamaConfig, LlamaWeights } from './llama_weights.js';
import { rotaryTables } from './llama_weights.js';
import type { ModelInit } from './onnx_proto.js';
import { DataType } from './onnx_proto.js';
import { GraphBuilder } from './graph_builder.js';
import { attentionFor } from './llama_attention.js';
import type { KvDtype, KvLayoutKind } from './llama_attention.js';

const OPSET = 17;

export type { KvDtype, KvLayoutKind } from './llama_attention.js';

/** Builds a LLaMA decoder whose attention meets the KV cache as `layout` says, the cache's elements `kvDtype`. */
export function buildLlamaGraph(
  c: LlamaConfig,
  w: LlamaWeights,
  metadata: Record<string, string>,
  layout: KvLayoutKind,
  kvDtype: KvDtype = 'float32',
  /**
   * onnxruntime-genai's interface for a gqa model (tests drive the engine's path for genai's
   * GroupQueryAttention exports with it): input_ids, attention_mask and the past in; every position's
   * logits and present out; the rotary embedding inside GroupQueryAttention, so no position_ids.
   */
  genai = false,
): ModelInit {
  const g = new GraphBuilder();
  const h = c.hiddenSize;
  const half = c.headDim / 2;

  // Shared constants (attentionFor asks for the ones it uses by name). Declared in this order, the
  // initializers come out as they always have: the embedded model stays the generator's output, byte for byte.
  g.int64('axis_0', [0]);
  const axis1 = g.int64('axis_1', [1]);
  g.int64('axes_1_2_3', [1, 2, 3]);
  const one = g.int64('one', [1], []);
  const zero = g.int64('zero', [0], []);
  const eps = g.float('rms_eps', Float32Array.of(c.rmsNormEps), []);
  g.float('attn_scale', Float32Array.of(1 / Math.sqrt(c.headDim)), []);
  g.float('mask_zero', Float32Array.of(0), []);
  g.float('mask_min', Float32Array.of(-1e9), []);
  const rope = rotaryTables(c);
  const cosTable = g.float('rope_cos', rope.cos, [c.maxPositions, half]);
  const sinTable = g.float('rope_sin', rope.sin, [c.maxPositions, half]);
  const qShape = g.int64('q_shape', [0, 0, c.numHeads, c.headDim]);
  const kvShape = g.int64('kv_shape', [0, 0, c.numKvHeads, c.headDim]);
  g.int64('group_shape', [0, c.numKvHeads, c.numHeads / c.numKvHeads, -1, c.headDim]);
  g.int64('heads_shape', [0, c.numHeads, -1, c.headDim]);
  g.int64('merge_shape', [0, 0, c.numHeads * c.headDim]);
  const sliceLo = g.int64('slice_lo', [0]);
  const sliceMid = g.int64('slice_mid', [half]);
  const sliceHi = g.int64('slice_hi', [c.headDim]);
  const axis3 = g.int64('axis_3', [3]);

  const attention = attentionFor(layout, g, c, kvDtype, genai);
  const kvType = kvDtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;

  // Rotary tables gathered once per run: [batch, 1, seq, half] (genai's interface rotates in the attention).
  const cos = genai ? '' : g.op('Unsqueeze', [g.op('Gather', [cosTable, 'position_ids'], { axis: 0 }), axis1]);
  const sin = genai ? '' : g.op('Unsqueeze', [g.op('Gather', [sinTable, 'position_ids'], { axis: 0 }), axis1]);

  const rmsNorm = (x: string, weight: string): string => {
    const meanSq = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Sqrt', [g.op('Add', [meanSq, eps])]);
    return g.op('Mul', [g.op('Div', [x, inv]), weight]);
  };
  const applyRope = (x: string): string => {
    if (genai) return x;
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
    const merged = attention(l, q, kNew, vNew);
    x = g.op('Add', [x, g.op('MatMul', [merged, g.weight(`${p}.o_proj`, lw.o, [c.numHeads * c.headDim, h])])]);

    const normed2 = rmsNorm(x, g.weight(`${p}.post_attention_layernorm`, lw.postNorm, [h]));
    const gate = g.op('MatMul', [normed2, g.weight(`${p}.gate_proj`, lw.gate, [h, c.intermediateSize])]);
    const up = g.op('MatMul', [normed2, g.weight(`${p}.up_proj`, lw.up, [h, c.intermediateSize])]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, g.op('MatMul', [act, g.weight(`${p}.down_proj`, lw.down, [c.intermediateSize, h])])]);
  });

  let lastHidden: string;
  if (genai) {
    // Every position's logits, as genai's exports return them.
    lastHidden = rmsNorm(x, g.weight('norm', w.finalNorm, [h]));
  } else if (layout === 'dense') {
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
        kvInputs.push({ name: `past_key_values.${l}.${kind}`, dataType: kvType, shape: ['batch_size', c.numKvHeads, 'cache_capacity', c.headDim] });
        if (layout === 'slots')
          kvOutputs.push({ name: `new_key_values.${l}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', c.numKvHeads, 'sequence_length', c.headDim] });
        else kvOutputs.push({ name: `present.${l}.${kind}`, dataType: kvType, shape: ['batch_size', c.numKvHeads, 'cache_capacity', c.headDim] });
      }
    }
  }
  const stepInputs =
    layout === 'dense' || genai
      ? [{ name: 'attention_mask', dataType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] }]
      : [
          { name: 'cache_lengths', dataType: DataType.INT64, shape: ['batch_size'] },
          { name: 'last_index', dataType: DataType.INT64, shape: ['batch_size'] },
        ];
  return {
    graphName: 'sgl_llama',
    producer: 'sgl',
    opset: OPSET,
    ...(layout === 'dense' ? {} : { extraOpsets: { 'com.microsoft': 1 } }),
    metadata,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'input_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      ...stepInputs,
      ...(genai ? [] : [{ name: 'position_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] }]),
      ...kvInputs,
    ],
    outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['batch_size', genai ? 'sequence_length' : 1, c.vocabSize] }, ...kvOutputs],
  };
}
