import type { FinishedRequest, WorkloadRecord } from '../finished_request.js';
import { E, EVENTS, S, STAGES } from '../stages.js';
import type { EventName, StageName } from '../stages.js';
import { KIND_ABORTED, KIND_EVENT, KIND_SLICE, RECORD, writeRecord } from '../records.js';
import type { TraceLevel } from '../trace_config.js';
import { newSpanId, newTraceId } from '../traceparent.js';
import { PID_MAIN, PID_WORKER, isRequestSlice } from './format.js';
import type { TraceEventLine } from './format.js';
import { TraceFileError } from '../../errors.js';
import { readTraceFile } from './reader.js';
import type { TraceFile } from './reader.js';

const ALL_STAGES = new Uint8Array(STAGES.length).fill(1);
const ALL_EVENTS = new Uint8Array(EVENTS.length).fill(1);

/**
 * Rebuilds the finished requests of a trace file, so a capture feeds the
 * same reports, span builders and exporters as a live run: each request's
 * slices and events per thread, its ids, and its workload record.
 */
export function capturedRequests(trace: TraceFile): FinishedRequest[] {
  const byRid = new Map<string, TraceEventLine[]>();
  for (const e of trace.events) {
    const rid = e.args?.rid;
    if (typeof rid !== 'string' || (e.pid !== PID_MAIN && e.pid !== PID_WORKER)) continue;
    let list = byRid.get(rid);
    if (!list) byRid.set(rid, (list = []));
    list.push(e);
  }
  const header = trace.header;
  const out: FinishedRequest[] = [];
  for (const w of trace.workloads) {
    const events = byRid.get(w.rid) ?? [];
    const mainThread = events.find((e) => e.pid === PID_MAIN && isRequestSlice(e));
    const args = (mainThread?.args ?? {}) as Record<string, unknown>;
    const start = mainThread ? mainThread.ts / 1000 : 0;
    const end = mainThread ? (mainThread.ts + (mainThread.dur ?? 0)) / 1000 : w.e2eMs;
    out.push({
      rid: w.rid,
      traceId: typeof args.trace_id === 'string' ? args.trace_id : newTraceId(),
      rootSpanId: typeof args.span_id === 'string' ? args.span_id : newSpanId(),
      parentSpanId: typeof args.parent_span_id === 'string' ? args.parent_span_id : null,
      level: (header?.trace.level ?? 1) as TraceLevel,
      modules: (header?.trace.modules ?? ['request']) as FinishedRequest['modules'],
      spanStages: ALL_STAGES,
      spanEvents: ALL_EVENTS,
      start,
      end,
      main: records(events.filter((e) => e.pid === PID_MAIN)),
      worker: records(events.filter((e) => e.pid === PID_WORKER)),
      error: typeof args.error === 'string' ? args.error : null,
      model: header?.model.id ?? 'unknown',
      operation: 'text_completion',
      workload: w as WorkloadRecord,
    });
  }
  return out;
}

/** One thread's slices and events as records, with nesting depth recovered from the times. */
function records(events: TraceEventLine[]): Float64Array {
  const slices = events
    .filter((e) => e.ph === 'X' && !isRequestSlice(e) && (S as Record<string, number>)[e.name] !== undefined)
    .map((e) => ({ id: S[e.name as StageName], start: e.ts / 1000, end: (e.ts + (e.dur ?? 0)) / 1000, aborted: e.args?.error !== undefined }))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const instants = events.filter((e) => e.ph === 'i' && (E as Record<string, number>)[e.name] !== undefined);
  const out = new Float64Array((slices.length + instants.length) * RECORD);
  let n = 0;
  const open: number[] = [];
  for (const s of slices) {
    // Slices that touch (one ends where the next starts) are siblings; allow for float rounding.
    while (open.length && open[open.length - 1] <= s.start + 1e-6) open.pop();
    writeRecord(out, n, s.aborted ? KIND_ABORTED : KIND_SLICE, s.id, s.start, s.end, open.length, 0, 0);
    n += RECORD;
    open.push(s.end);
  }
  for (const e of instants) {
    const def = EVENTS[E[e.name as EventName]];
    const a = def.attrs ? Number(e.args?.[def.attrs[0]] ?? 0) : 0;
    const b = def.attrs?.[1] ? Number(e.args?.[def.attrs[1]] ?? 0) : 0;
    writeRecord(out, n, KIND_EVENT, def.id, e.ts / 1000, e.ts / 1000, 0, a, b);
    n += RECORD;
  }
  return out;
}

/**
 * Reads a capture for the trace subcommands; a file cut short is reported
 * through `warn`, one with no finished request is an error (every report
 * of it would be empty or NaN).
 */
export function loadCapture(path: string, warn: (message: string) => void): { trace: TraceFile; requests: FinishedRequest[] } {
  const trace = readTraceFile(path);
  if (trace.workloads.length === 0) throw new TraceFileError(`${path} holds no finished requests; capture some with --trace-file at trace level 1 or more.`);
  if (trace.truncated) warn(`${path} was cut short after line ${trace.completeLines}; using the ${trace.workloads.length} requests it holds in full.`);
  return { trace, requests: capturedRequests(trace) };
}
