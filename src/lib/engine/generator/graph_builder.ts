import { floatToHalf } from '../fp16.js';
import type { AttributeValue, NodeInit, TensorInit } from './onnx_proto.js';
import { DataType, int64Tensor } from './onnx_proto.js';

function f16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]);
  return new Uint8Array(out.buffer);
}

function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Collects nodes and initializers with unique, readable names. */
export class GraphBuilder {
  readonly nodes: NodeInit[] = [];
  readonly initializers: TensorInit[] = [];
  private counter = 0;
  private readonly constants = new Set<string>();

  op(op: string, inputs: string[], attributes?: Record<string, AttributeValue>, output?: string, domain?: string): string {
    const name = `${op}_${this.counter++}`;
    const out = output ?? `${name}_out`;
    this.nodes.push({ op, inputs, outputs: [out], name, attributes, ...(domain ? { domain } : {}) });
    return out;
  }

  /** A node with several outputs, named by the caller. */
  multi(op: string, inputs: string[], outputs: string[], attributes?: Record<string, AttributeValue>, domain?: string): void {
    this.nodes.push({ op, inputs, outputs, name: `${op}_${this.counter++}`, attributes, ...(domain ? { domain } : {}) });
  }

  /** A constant; asked for again by name, the one already made (callers give one name one value). */
  int64(name: string, values: number[], dims: number[] = [values.length]): string {
    if (!this.constants.has(name)) this.initializers.push(int64Tensor(name, values, dims));
    this.constants.add(name);
    return name;
  }

  float(name: string, values: Float32Array, dims: number[]): string {
    if (!this.constants.has(name)) this.initializers.push({ name, dataType: DataType.FLOAT, dims, raw: f32Bytes(values) });
    this.constants.add(name);
    return name;
  }

  /** Stored as fp16 to halve the file, widened once (onnxruntime folds the Cast at load). */
  weight(name: string, values: Float32Array, dims: number[]): string {
    this.initializers.push({ name: `${name}.fp16`, dataType: DataType.FLOAT16, dims, raw: f16Bytes(values) });
    return this.op('Cast', [`${name}.fp16`], { to: DataType.FLOAT }, name);
  }
}
