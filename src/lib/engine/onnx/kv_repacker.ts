import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type * as OrtModule from 'onnxruntime-node';
import type { Device } from '../devices.js';
import { encodeModel } from '../generator/onnx_proto.js';
import type { DecoderIo, KvPart } from './decoder_io.js';
import { buildRepackGraph, DONE_OUTPUT, END_INPUT, kvInput, kvOutput, padsInput, rowsInput, START_INPUT } from './kv_repack_graph.js';

type Ort = typeof OrtModule;

/** Bytes of a tensor held by the host (one on the device moves none). */
export function hostBytes(t: Tensor): number {
  return t.location === 'cpu' ? (t.data as ArrayBufferView).byteLength : 0;
}

/**
 * Repacks a decoder's KV cache where it lives (on a GPU, on the device), in
 * one run of a small Gather/Pad/Slice/Concat graph (kv_repack_graph.ts) on
 * the decoder's own provider: one session per part count and destination,
 * built on first use.
 */
export class KvRepacker {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();

  constructor(
    private readonly ort: Ort,
    private readonly io: DecoderIo,
    private readonly device: Device,
    /** Whether the decoder's cache stays on the device (else every repack runs and returns on the host). */
    private readonly kvOnDevice: boolean,
    /** The decoder's count of bytes moved between host and device, which repacks add to. */
    private readonly transfers: { toDevice: number; fromDevice: number },
  ) {}

  /**
   * The kept rows of each part, in order, in `length` columns, dense rows right-aligned, gqa rows from
   * column 0 (`alignLeft`). `toHost` brings the result to the host (the prefix cache's copy of fresh prompts).
   * Row indices, pad widths and the columns go up; one element comes down (DONE_OUTPUT: the run ends when the
   * device has done the work).
   */
  async repack(parts: readonly KvPart[], length: number, toHost: boolean, alignLeft: boolean): Promise<Tensor[]> {
    const { Tensor } = this.ort;
    const session = await this.session(parts.length, toHost || !this.kvOnDevice);
    const int64s = (...v: number[]): Tensor => new Tensor('int64', BigInt64Array.from(v, BigInt), [v.length]);
    const feeds: Record<string, Tensor> = alignLeft
      ? { [START_INPUT]: int64s(0), [END_INPUT]: int64s(length) }
      : { [START_INPUT]: int64s(-length), [END_INPUT]: int64s(Number.MAX_SAFE_INTEGER) };
    parts.forEach((part, p) => {
      const pad = Math.max(0, length - part.length);
      feeds[rowsInput(p)] = int64s(...part.rows);
      feeds[padsInput(p)] = alignLeft ? int64s(0, 0, 0, 0, 0, 0, pad, 0) : int64s(0, 0, pad, 0, 0, 0, 0, 0);
      part.past.forEach((t, i) => (feeds[kvInput(p, i)] = t));
    });
    const out = await session.run(feeds);
    const kv = this.io.pastNames.map((_, i) => out[kvOutput(i)]);
    for (const name in feeds) this.transfers.toDevice += hostBytes(feeds[name]);
    for (const name in out) this.transfers.fromDevice += hostBytes(out[name]);
    return kv;
  }

  private session(parts: number, toHost: boolean): Promise<InferenceSession> {
    const key = `${parts}:${toHost}`;
    let session = this.sessions.get(key);
    if (!session) {
      const tensors = this.io.pastNames.length;
      const graph = encodeModel(buildRepackGraph(parts, tensors, this.io.kvHeads, this.io.headDim, this.io.kvType));
      const where: Record<string, OrtModule.Tensor.DataLocation> = { [DONE_OUTPUT]: 'cpu' };
      for (let i = 0; i < tensors; i++) where[kvOutput(i)] = toHost ? 'cpu' : 'gpu-buffer';
      session = this.ort.InferenceSession.create(graph, { executionProviders: [this.device], preferredOutputLocation: where, logSeverityLevel: 3 });
      this.sessions.set(key, session);
    }
    return session;
  }

  async release(): Promise<void> {
    for (const session of this.sessions.values()) await (await session).release();
  }
}
