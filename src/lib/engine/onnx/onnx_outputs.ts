import { closeSync, openSync, readSync } from 'node:fs';

/** Reads a file forward in chunks, skipping what it is not asked for without reading it. */
class FileCursor {
  private buf = Buffer.alloc(1 << 16);
  private start = 0;
  private filled = 0;
  pos = 0;

  constructor(private readonly fd: number) {}

  private byte(): number {
    if (this.pos < this.start || this.pos >= this.start + this.filled) {
      this.start = this.pos;
      this.filled = readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
      if (this.filled === 0) throw new Error('unexpected end of file');
    }
    return this.buf[this.pos++ - this.start];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
  }

  text(n: number): string {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.byte();
    return out.toString('utf8');
  }

  /** Skips one field's value of wire type `wire`. */
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const n = this.varint();
      this.pos += n;
    } else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** Field 1 (name) of the ValueInfoProto that starts at the cursor and ends at `end`. */
function valueName(c: FileCursor, end: number): string {
  let name = '';
  while (c.pos < end) {
    const tag = c.varint();
    if (tag >>> 3 === 1 && (tag & 7) === 2) name = c.text(c.varint());
    else c.skip(tag & 7);
  }
  return name;
}

/** A node of the graph: its operator and the names of its inputs and outputs. */
export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
}

/** The NodeProto that starts at the cursor and ends at `end`: inputs (field 1), outputs (2), op_type (4). */
function node(c: FileCursor, end: number): GraphNode {
  const n: GraphNode = { op: '', inputs: [], outputs: [] };
  while (c.pos < end) {
    const tag = c.varint();
    const field = tag >>> 3;
    if ((field === 1 || field === 2 || field === 4) && (tag & 7) === 2) {
      const text = c.text(c.varint());
      if (field === 1) n.inputs.push(text);
      else if (field === 2) n.outputs.push(text);
      else n.op = text;
    } else c.skip(tag & 7);
  }
  return n;
}

/** What the engine reads of a graph before loading it: its input and output names, and the nodes of the operators asked for. */
export interface GraphOutline {
  inputs: string[];
  outputs: string[];
  nodes: GraphNode[];
}

/**
 * The graph input and output names of an ONNX file, and its nodes of the
 * operators in `ops`, read without loading it: the model's weights
 * (initializers, possibly gigabytes) are skipped by their lengths.
 * onnxruntime wants output placement (preferredOutputLocation) at session
 * creation, before the session can say what its inputs and outputs are, and
 * never says what its nodes are.
 */
export function onnxGraphOutline(path: string, ops: readonly string[] = []): GraphOutline {
  const fd = openSync(path, 'r');
  try {
    const c = new FileCursor(fd);
    const outline: GraphOutline = { inputs: [], outputs: [], nodes: [] };
    // ModelProto: the graph is field 7.
    for (;;) {
      const tag = c.varint();
      if (tag >>> 3 === 7 && (tag & 7) === 2) break;
      c.skip(tag & 7);
    }
    const length = c.varint();
    const end = c.pos + length;
    // GraphProto: nodes are field 1, inputs field 11, outputs field 12.
    while (c.pos < end) {
      const tag = c.varint();
      const field = tag >>> 3;
      if ((field === 1 || field === 11 || field === 12) && (tag & 7) === 2) {
        const length = c.varint();
        if (field === 1) {
          if (ops.length === 0) c.pos += length;
          else {
            const n = node(c, c.pos + length);
            if (ops.includes(n.op)) outline.nodes.push(n);
          }
        } else (field === 11 ? outline.inputs : outline.outputs).push(valueName(c, c.pos + length));
      } else c.skip(tag & 7);
    }
    return outline;
  } finally {
    closeSync(fd);
  }
}

export const onnxOutputNames = (path: string): string[] => onnxGraphOutline(path).outputs;
