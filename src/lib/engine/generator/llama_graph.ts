import { floatToHalf } from '../fp16.js';
import type { LlamaConfig, LlamaWeights } from './llama_weights.js';
import { rotaryTables } from './llama_weights.js';
import type { AttributeValue, ModelInit, NodeInit, TensorInit } from './onnx_proto.js';
import { DataType, int64Tensor } from './onnx_proto.js';

const OPSET = 17;

function f16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]);
  return new Uint8Array(out.buffer);
}

function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Collects nodes and initializers with unique, readable names. */
class GraphBuilder {
  readonly nodes: NodeInit[] = [];
  readonly initializers: TensorInit[] = [];
  private counter = 0;

  op(op: string, inputs: string[], attributes?: Record<string, AttributeValue>, output?: string): string {
    const name = `${op}_${this.counter++}`;
    const out = output ?? `${name}_out`;
    this.nodes.push({ op, inputs, outputs: [out], name, attributes });
    return out;
  }

  int64(name: string, values: number[], dims: number[] = [values.length]): string {
    this.initializers.push(int64Tensor(name, values, dims));
    return name;
  }

  float(name: string, values: Float32Array, dims: number[]): string {
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, raw: f32Bytes(values) });
    return name;
  }

  /** Stored as fp16 to halve the file, widened once (onnxruntime folds the Cast at load). */
  weight(name: string, values: Float32Array, dims: number[]): string {
    this.initializers.push({ name: `${name}.fp16`, dataType: DataType.FLOAT16, dims, raw: f16Bytes(values) });
    return this.op('Cast', [`${name}.fp16`], { to: DataType.FLOAT }, name);
  }
}

/**
 * Builds a LLaMA decoder with the Optimum / onnx-community interface:
 * inputs input_ids, attention_mask, position_ids, past_key_values.{i}.key|value
 * [batch, kv_heads, past, head_dim]; outputs logits (of the last position only: [batch, 1, vocab]),
 * present.{i}.key|value.
 */
export function buildLlamaGraph(c: LlamaConfig, w: LlamaWeights, metadata: Record<string, string>): ModelInit {
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
    const k = g.op('Concat', [`past_key_values.${l}.key`, kNew], { axis: 2 }, `present.${l}.key`);
    const v = g.op('Concat', [`past_key_values.${l}.value`, vNew], { axis: 2 }, `present.${l}.value`);

    // Grouped-query attention without copying KV heads: queries are grouped
    // [batch, kv_heads, groups, seq, dim] and broadcast against [batch, kv_heads, 1, total, dim].
    const qGrouped = g.op('Reshape', [q, groupShape]);
    const kT = g.op('Unsqueeze', [g.op('Transpose', [k], { perm: [0, 1, 3, 2] }), g.int64(`${p}.axis2`, [2])]);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [qGrouped, kT]), scale]), bias]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const ctx = g.op('MatMul', [probs, g.op('Unsqueeze', [v, `${p}.axis2`])]);
    const merged = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [ctx, headsShape])], { perm: [0, 2, 1, 3] }), mergeShape]);
    x = g.op('Add', [x, g.op('MatMul', [merged, g.weight(`${p}.o_proj`, lw.o, [c.numHeads * c.headDim, h])])]);

    const normed2 = rmsNorm(x, g.weight(`${p}.post_attention_layernorm`, lw.postNorm, [h]));
    const gate = g.op('MatMul', [normed2, g.weight(`${p}.gate_proj`, lw.gate, [h, c.intermediateSize])]);
    const up = g.op('MatMul', [normed2, g.weight(`${p}.up_proj`, lw.up, [h, c.intermediateSize])]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, g.op('MatMul', [act, g.weight(`${p}.down_proj`, lw.down, [c.intermediateSize, h])])]);
  });

  const finalNormed = rmsNorm(x, g.weight('norm', w.finalNorm, [h]));
  // Only the last position goes through the LM head: the engine samples from nothing else (it left-pads, so
  // every row ends there), and a prompt's [seq, vocab] logits were most of a prefill's memory and of what a GPU sends back.
  const lastHidden = g.op('Slice', [finalNormed, g.int64('last_lo', [-1]), g.int64('last_hi', [Number.MAX_SAFE_INTEGER]), axis1]);
  const lmHead = g.op('Transpose', [embed], { perm: [1, 0] });
  g.op('MatMul', [lastHidden, lmHead], undefined, 'logits');

  const kvInputs = [];
  const kvOutputs = [];
  for (let l = 0; l < c.numLayers; l++) {
    for (const kind of ['key', 'value']) {
      kvInputs.push({ name: `past_key_values.${l}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', c.numKvHeads, 'past_sequence_length', c.headDim] });
      kvOutputs.push({ name: `present.${l}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', c.numKvHeads, 'total_sequence_length', c.headDim] });
    }
  }
  return {
    graphName: 'sgl_llama',
    producer: 'sgl',
    opset: OPSET,
    metadata,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'input_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', dataType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      ...kvInputs,
    ],
    outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['batch_size', 1, c.vocabSize] }, ...kvOutputs],
  };
}
