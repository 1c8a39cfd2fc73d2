import { createWriteStream, openSync } from 'node:fs';
import { SglError } from '../../errors.js';
import type { WriteStream } from 'node:fs';
import type { FinishedRequest } from '../finished_request.js';
import { EVENTS, STAGES } from '../stages.js';
import { KIND_ABORTED, KIND_EVENT, RECORD } from '../trace_context.js';
import type { TraceExporter, TraceHeader } from '../tracing.js';
import { LanePool } from './lanes.js';
import type { Placed } from './lanes.js';

export const PID_MAIN = 1;
export const PID_WORKER = 2;
export const HEADER_EVENT = 'sgl.header';
export const WORKLOAD_EVENT = 'sgl.workload';

interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M';
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  s?: 't' | 'g';
  cat?: string;
  args?: Record<string, unknown>;
}

/**
 * Writes the trace file (DESIGN.md §4): Chrome Trace Event Format in its
 * JSON array form, one event per line, each line written whole. The array's
 * closing bracket is optional in that format, so a file cut short by a
 * crash still opens in Perfetto and Chrome DevTools, and sgl's reader loads
 * every complete line. Lines after the first start with the comma, so the
 * file is valid up to any line boundary.
 */
export class TraceFileWriter implements TraceExporter {
  private readonly out: WriteStream;
  private lines = 0;
  private readonly lanes = { [PID_MAIN]: new LanePool(), [PID_WORKER]: new LanePool() };
  private failed: Error | null = null;

  constructor(readonly path: string) {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (err) {
      throw new SglError(`Cannot write the trace file ${path}: ${(err as Error).message}. Pass --trace-file a path in a directory that exists and is writable.`);
    }
    this.out = createWriteStream(path, { fd });
    this.out.on('error', (err) => {
      if (!this.failed) process.emitWarning(`sgl: cannot write the trace file ${path}: ${err.message}`);
      this.failed = err;
    });
    this.out.write('[\n');
  }

  start(header: TraceHeader): void {
    this.line({ name: HEADER_EVENT, ph: 'i', s: 'g', pid: 0, tid: 0, ts: 0, args: header as unknown as Record<string, unknown> });
    this.line({ name: 'process_name', ph: 'M', pid: PID_MAIN, tid: 0, ts: 0, args: { name: 'main (tokenizer, detokenizer, API)' } });
    this.line({ name: 'process_name', ph: 'M', pid: PID_WORKER, tid: 0, ts: 0, args: { name: 'scheduler worker (scheduler, onnxruntime)' } });
  }

  export(req: FinishedRequest): void {
    if (this.failed) return;
    // Microseconds on the process clock (ms since the main thread's time origin).
    const us = (t: number): number => Math.round(t * 1e6) / 1e3;
    const events: TraceEvent[] = [];
    for (const [pid, records] of [[PID_MAIN, req.main], [PID_WORKER, req.worker]] as const) {
      const slices: (Placed & { ev: TraceEvent })[] = [];
      const instants: TraceEvent[] = [];
      let first = pid === PID_MAIN ? req.start : Infinity;
      let last = pid === PID_MAIN ? req.end : -Infinity;
      for (let i = 0; i < records.length; i += RECORD) {
        const kind = records[i];
        const id = records[i + 1];
        const start = records[i + 2];
        const end = records[i + 3];
        if (kind === KIND_EVENT) {
          if (!req.spanEvents[id]) continue;
          const def = EVENTS[id];
          const args: Record<string, unknown> = { rid: req.rid };
          if (def.attrs) {
            args[def.attrs[0]] = records[i + 5];
            if (def.attrs[1]) args[def.attrs[1]] = records[i + 6];
          }
          instants.push({ name: def.name, cat: def.module, ph: 'i', s: 't', pid, tid: 0, ts: us(start), args });
          continue;
        }
        if (!req.spanStages[id]) continue;
        first = Math.min(first, start);
        last = Math.max(last, end);
        const def = STAGES[id];
        const ev: TraceEvent = { name: def.name, cat: def.module, ph: 'X', pid, tid: 0, ts: us(start), dur: us(end) - us(start), args: { rid: req.rid } };
        if (kind === KIND_ABORTED) ev.args!.error = 'aborted';
        slices.push({ start, end, lane: 0, ev });
      }
      if (slices.length === 0 && instants.length === 0 && pid === PID_WORKER) continue;
      if (slices.length === 0) {
        first = Math.min(first, req.start);
        last = Math.max(last, req.end);
      }
      // The thread-level slice that groups the request's stages on this thread.
      const threadSlice: TraceEvent = { name: `request ${req.rid}`, cat: 'request', ph: 'X', pid, tid: 0, ts: us(first), dur: us(last) - us(first), args: { rid: req.rid, trace_id: req.traceId } };
      if (req.error) threadSlice.args!.error = req.error;
      slices.push({ start: first, end: last, lane: 0, ev: threadSlice });
      const pool = this.lanes[pid];
      const before = pool.size;
      pool.place(slices);
      for (let tid = before; tid < pool.size; tid++) {
        events.push({ name: 'thread_name', ph: 'M', pid, tid: tid + 1, ts: 0, args: { name: `requests #${tid + 1}` } });
      }
      const home = slices[slices.length - 1].lane + 1;
      for (const s of slices) {
        s.ev.tid = s.lane + 1;
        events.push(s.ev);
      }
      for (const e of instants) {
        e.tid = home;
        events.push(e);
      }
      if (pid === PID_MAIN) {
        events.push({ name: WORKLOAD_EVENT, cat: 'workload', ph: 'i', s: 't', pid, tid: home, ts: us(req.end), args: req.workload as unknown as Record<string, unknown> });
      }
    }
    for (const e of events) this.line(e);
  }

  private line(event: TraceEvent): void {
    this.out.write(`${this.lines++ === 0 ? '' : ','}${JSON.stringify(event)}\n`);
  }

  flush(): Promise<void> {
    if (this.failed || this.out.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => this.out.once('drain', () => resolve()));
  }

  shutdown(): Promise<void> {
    if (this.out.closed || this.out.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.out.end(']\n', () => resolve()));
  }
}
