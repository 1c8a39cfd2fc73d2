/**
 * A minimal protobuf encoder for the parts of onnx.proto the generator writes
 * (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto,
 * AttributeProto). Messages are kept as lists of byte chunks so large weight
 * buffers are copied once, when the file is written.
 */

export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

class Message {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Message): this {
    this.key(field, 2);
    this.varint(value.length);
    for (const c of value.chunks) this.push(c);
    return this;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

export interface TensorInit {
  name: string;
  dataType: DataTypeCode;
  dims: readonly number[];
  /** Little-endian element bytes. */
  raw: Uint8Array;
}

/** An int64 tensor of `values` (a 1-D one unless `dims` says otherwise). */
export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorInit {
  return { name, dataType: DataType.INT64, dims, raw: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) };
}

export type AttributeValue = number | readonly number[] | string | TensorInit | { float: number };

export interface NodeInit {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  attributes?: Record<string, AttributeValue>;
  /** Operator domain: '' (ai.onnx) unless the op comes from another set (com.microsoft). */
  domain?: string;
}

/** A symbolic or fixed dimension of a graph input or output. */
export type Dim = number | string;

export interface ValueInit {
  name: string;
  dataType: DataTypeCode;
  shape: readonly Dim[];
}

export interface ModelInit {
  graphName: string;
  nodes: readonly NodeInit[];
  initializers: readonly TensorInit[];
  inputs: readonly ValueInit[];
  outputs: readonly ValueInit[];
  opset: number;
  /** Other operator sets the nodes use, by domain (com.microsoft: 1). */
  extraOpsets?: Record<string, number>;
  producer: string;
  metadata?: Record<string, string>;
}

function tensor(t: TensorInit): Message {
  const m = new Message();
  for (const d of t.dims) m.int(1, d);
  m.int(2, t.dataType).string(8, t.name).bytes(9, t.raw);
  return m;
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_INTS = 7;

function attribute(name: string, value: AttributeValue): Message {
  const m = new Message().string(1, name);
  if (typeof value === 'number') m.int(3, value).int(20, ATTR_INT);
  else if (typeof value === 'string') m.string(4, value).int(20, ATTR_STRING);
  else if (Array.isArray(value)) {
    for (const v of value) m.int(8, v);
    m.int(20, ATTR_INTS);
  } else if ('float' in value) m.float(2, value.float).int(20, ATTR_FLOAT);
  else m.message(5, tensor(value as TensorInit)).int(20, ATTR_TENSOR);
  return m;
}

function node(n: NodeInit): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.op);
  if (n.domain) m.string(7, n.domain);
  for (const [k, v] of Object.entries(n.attributes ?? {})) m.message(5, attribute(k, v));
  return m;
}

function valueInfo(v: ValueInit): Message {
  const shape = new Message();
  for (const d of v.shape) {
    const dim = typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new Message().int(1, v.dataType).message(2, shape);
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}

/** Serializes a complete ONNX model (IR version 8) to bytes. */
export function encodeModel(model: ModelInit): Uint8Array {
  const graph = new Message();
  for (const n of model.nodes) graph.message(1, node(n));
  graph.string(2, model.graphName);
  for (const t of model.initializers) graph.message(5, tensor(t));
  for (const i of model.inputs) graph.message(11, valueInfo(i));
  for (const o of model.outputs) graph.message(12, valueInfo(o));

  const m = new Message().int(1, 8).string(2, model.producer).message(7, graph).message(8, new Message().string(1, '').int(2, model.opset));
  for (const [domain, version] of Object.entries(model.extraOpsets ?? {})) m.message(8, new Message().string(1, domain).int(2, version));
  for (const [k, v] of Object.entries(model.metadata ?? {})) {
    m.message(14, new Message().string(1, k).string(2, v));
  }
  return m.toBytes();
}
