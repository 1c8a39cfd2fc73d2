import { DataType, int64Tensor } from '../generator/onnx_proto.js';
import type { ModelInit, NodeInit, ValueInit } from '../generator/onnx_proto.js';

/** Inputs of one source batch, per part `p` of a repack graph. */
export const rowsInput = (p: number): string => `p${p}_rows`;
export const padsInput = (p: number): string => `p${p}_pads`;
export const kvInput = (p: number, t: number): string => `p${p}_kv${t}`;
export const kvOutput = (t: number): string => `kv${t}`;
/** The Slice that makes the new cache's columns: from `start` (minus the new length: the last `length` columns) to `end`. */
export const START_INPUT = 'start';
export const END_INPUT = 'end';
/**
 * One element of the last output, read back to the host: a device runs its
 * queue in order, so reading it waits for the whole repack, and the run (and
 * the kv_repack stage) ends when the work is done rather than when it was
 * submitted.
 */
export const DONE_OUTPUT = 'done';

/**
 * The graph that repacks a batch's KV cache on the device it lives on
 * (KvBatch.repack's device path, GqaBatch's joins and leaves): for each of
 * `parts` source batches, the kept rows (Gather on axis 0), padded (Pad on
 * axis 2: dense rows on the left, right-aligned; gqa rows on the right) to
 * at least the new length, then its columns (Slice: dense the last
 * `length`, gqa the first); the parts are concatenated on axis 0. A row's
 * tokens keep their columns relative to the end it is aligned to, and only
 * padding moves. Each of the
 * `tensors` past tensors ([rows, kv_heads, length, head_dim]) is one input
 * per part and one output.
 */
export function buildRepackGraph(parts: number, tensors: number, kvHeads: number, headDim: number, kvType: 'float32' | 'float16'): ModelInit {
  const dataType = kvType === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const initializers = [int64Tensor('axis_2', [2]), int64Tensor('origin', [0, 0, 0, 0]), int64Tensor('one_each', [1, 1, 1, 1])];
  const nodes: NodeInit[] = [];
  const inputs: ValueInit[] = [
    { name: START_INPUT, dataType: DataType.INT64, shape: [1] },
    { name: END_INPUT, dataType: DataType.INT64, shape: [1] },
  ];
  const outputs: ValueInit[] = [];
  for (let p = 0; p < parts; p++) {
    inputs.push({ name: rowsInput(p), dataType: DataType.INT64, shape: [`rows_${p}`] });
    inputs.push({ name: padsInput(p), dataType: DataType.INT64, shape: [8] });
  }
  for (let t = 0; t < tensors; t++) {
    const pieces: string[] = [];
    for (let p = 0; p < parts; p++) {
      const src = kvInput(p, t);
      inputs.push({ name: src, dataType, shape: [`batch_${p}`, kvHeads, `length_${p}`, headDim] });
      const picked = `${src}_rows`;
      const padded = `${src}_padded`;
      const piece = parts === 1 ? kvOutput(t) : `${src}_tail`;
      nodes.push({ op: 'Gather', inputs: [src, rowsInput(p)], outputs: [picked], name: `gather_${p}_${t}`, attributes: { axis: 0 } });
      nodes.push({ op: 'Pad', inputs: [picked, padsInput(p)], outputs: [padded], name: `pad_${p}_${t}`, attributes: { mode: 'constant' } });
      nodes.push({ op: 'Slice', inputs: [padded, START_INPUT, END_INPUT, 'axis_2'], outputs: [piece], name: `slice_${p}_${t}` });
      pieces.push(piece);
    }
    if (parts > 1) nodes.push({ op: 'Concat', inputs: pieces, outputs: [kvOutput(t)], name: `concat_${t}`, attributes: { axis: 0 } });
    outputs.push({ name: kvOutput(t), dataType, shape: ['rows', kvHeads, 'length', headDim] });
  }
  nodes.push({ op: 'Slice', inputs: [kvOutput(tensors - 1), 'origin', 'one_each'], outputs: [DONE_OUTPUT], name: 'done' });
  outputs.push({ name: DONE_OUTPUT, dataType, shape: [1, 1, 1, 1] });
  return { graphName: `sgl_kv_repack_${parts}`, nodes, initializers, inputs, outputs, opset: 17, producer: 'sgl' };
}
