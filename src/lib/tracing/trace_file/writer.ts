import { createWriteStream, fchmodSync, openSync } from 'node:fs';
import { SglError } from '../../errors.js';
import type { WriteStream } from 'node:fs';
import type { FinishedRequest } from '../finished_request.js';
import { EVENTS, STAGES } from '../stages.js';
import { threadViews } from '../records.js';
import type { SliceRecord } from '../records.js';
import type { TraceExporter, TraceHeader } from '../tracing.js';
import { HEADER_EVENT, PID_MAIN, PID_WORKER, WORKLOAD_EVENT, requestSliceName } from './format.js';
import type { TraceEventLine } from './format.js';
import { LanePool } from './lanes.js';
import type { Placed } from './lanes.js';

/** Microseconds on the process clock (ms since the main thread's time origin), to the nanosecond. */
function us(t: number): number {
  return Math.round(t * 1e6) / 1e3;
}

/**
 * A slice's duration from its written start and end (both from `us`), such
 * that `ts + dur` in floating point, which is how every viewer finds the end,
 * comes out exactly at `end`. Rounding the duration to the nanosecond on its
 * own does not: 1764406.746 + 35.546 is 1764442.2920000001, a hair past a
 * next slice that starts at 1764442.292, and Chrome's trace engine drops that
 * next slice as a partial overlap. Where the three-decimal duration misses,
 * the exact difference of the two doubles is written instead (it differs
 * from the nanosecond figure by less than 1e-9 µs).
 */
export function dur(ts: number, end: number): number {
  if (end <= ts) return 0;
  const rounded = Math.round((end - ts) * 1e3) / 1e3;
  if (ts + rounded === end) return rounded;
  // Exact when ts >= end / 2 (Sterbenz); a slice that starts in the process's first instants steps down to fit.
  let exact = end - ts;
  while (ts + exact > end) exact -= Number.EPSILON * end;
  return exact;
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
      // Owner-only: a trace holds request ids and parameters, and prompts with --trace-include-content.
      fd = openSync(path, 'w', 0o600);
      fchmodSync(fd, 0o600);
    } catch (err) {
      throw new SglError(
        `Cannot write the trace file ${path}: ${(err as Error).message}. Pass --trace-file a path in a directory that exists and is writable.`,
      );
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
    if (header.role === 'client') {
      this.line({ name: 'process_name', ph: 'M', pid: PID_MAIN, tid: 0, ts: 0, args: { name: `client (requests to ${header.model.dir})` } });
      return;
    }
    this.line({ name: 'process_name', ph: 'M', pid: PID_MAIN, tid: 0, ts: 0, args: { name: 'main (tokenizer, detokenizer, API)' } });
    this.line({ name: 'process_name', ph: 'M', pid: PID_WORKER, tid: 0, ts: 0, args: { name: 'scheduler worker (scheduler, onnxruntime)' } });
  }

  export(req: FinishedRequest): void {
    if (this.failed) return;
    const lines: string[] = [];
    const rid = JSON.stringify(req.rid);
    for (const view of threadViews(req, true)) {
      const pid = view.thread === 'main' ? PID_MAIN : PID_WORKER;
      const first = view.start;
      const last = view.end;
      // Slices are placed on tracks first, then written; `record` is null for the thread slice.
      const slices: (Placed & { record: SliceRecord | null })[] = view.slices.map((s) => ({ start: s.start, end: s.end, lane: 0, record: s }));
      // The thread-level slice that groups the request's stages on this thread.
      const thread = { start: first, end: last, lane: 0, record: null };
      slices.push(thread);
      const pool = this.lanes[pid];
      const before = pool.size;
      pool.place(slices);
      for (let tid = before; tid < pool.size; tid++) {
        lines.push(`{"name":"thread_name","ph":"M","pid":${pid},"tid":${tid + 1},"ts":0,"args":{"name":"requests #${tid + 1}"}}`);
      }
      const home = thread.lane + 1;
      const error = req.error ? `,"error":${JSON.stringify(req.error)}` : '';
      // The ids let `sgl trace export` send the capture later as the same trace.
      const ids = `"trace_id":"${req.traceId}","span_id":"${req.rootSpanId}"${req.parentSpanId ? `,"parent_span_id":"${req.parentSpanId}"` : ''}`;
      lines.push(
        `{"name":${JSON.stringify(requestSliceName(req.rid))},"cat":"request","ph":"X","pid":${pid},"tid":${home},"ts":${us(first)},"dur":${dur(us(first), us(last))},"args":{"rid":${rid},${ids}${error}}}`,
      );
      for (const sl of slices) {
        if (!sl.record) continue;
        const def = STAGES[sl.record.id];
        const aborted = sl.record.aborted ? ',"error":"aborted"' : '';
        lines.push(
          `{"name":"${def.name}","cat":"${def.module}","ph":"X","pid":${pid},"tid":${sl.lane + 1},"ts":${us(sl.start)},"dur":${dur(us(sl.start), us(sl.end))},"args":{"rid":${rid}${aborted}}}`,
        );
      }
      for (const e of view.events) {
        const def = EVENTS[e.id];
        let attrs = '';
        if (def.attrs) {
          attrs = `,"${def.attrs[0]}":${e.a}`;
          if (def.attrs[1]) attrs += `,"${def.attrs[1]}":${e.b}`;
        }
        lines.push(`{"name":"${def.name}","cat":"${def.module}","ph":"i","s":"t","pid":${pid},"tid":${home},"ts":${us(e.t)},"args":{"rid":${rid}${attrs}}}`);
      }
      if (pid === PID_MAIN) {
        lines.push(
          `{"name":"${WORKLOAD_EVENT}","cat":"workload","ph":"i","s":"t","pid":${pid},"tid":${home},"ts":${us(req.end)},"args":${JSON.stringify(req.workload)}}`,
        );
      }
    }
    this.write(lines);
  }

  private line(event: TraceEventLine): void {
    this.write([JSON.stringify(event)]);
  }

  /** Writes whole lines in one call; every line after the first opens with the comma. */
  private write(lines: string[]): void {
    if (lines.length === 0) return;
    const head = this.lines === 0 ? '' : ',';
    this.lines += lines.length;
    this.out.write(`${head}${lines.join('\n,')}\n`);
  }

  /** Resolves once everything written so far has reached the file. */
  flush(): Promise<void> {
    if (this.failed || this.out.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.out.write('', () => resolve()));
  }

  shutdown(): Promise<void> {
    if (this.out.closed || this.out.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.out.end(']\n', () => resolve()));
  }
}
