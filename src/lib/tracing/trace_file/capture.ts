import type { FinishedRequest, WorkloadRecord } from '../finished_request.js';
import { E, EVENTS, S, STAGES } from '../stages.js';
import type { EventName, StageName } from '../stages.js';
import { KIND_ABORTED, KIND_EVENT, KIND_SLICE, RECORD, writeRecord } from '../records.js';
import type { TraceLevel } from '../trace_config.js';
import { newSpanId, newTraceId } from '../traceparent.js';
import { PART_WORKLOAD_EVENT, PID_MAIN, WORKLOAD_EVENT, captureOf, isRequestSlice, mainPid } from './format.js';
import type { TraceEventLine } from './format.js';
import { TraceFileError } from '../../errors.js';
import { TraceReader } from './reader.js';
import type { TraceHeader } from '../tracing.js';

const ALL_STAGES = new Uint8Array(STAGES.length).fill(1);
const ALL_EVENTS = new Uint8Array(EVENTS.length).fill(1);

/** One request's events as read so far (in a merged capture, every capture's side of it), and whether a workload record was read. */
interface Pending {
  events: TraceEventLine[];
  complete: boolean;
  /** The main-thread pids whose request slice was read: a second one is another request under the same id. */
  mains: Set<number>;
}

const isMain = (pid: number): boolean => pid >= PID_MAIN && (pid & 1) === 1;

/**
 * Rebuilds the finished requests of a trace file as it streams, so a
 * capture feeds the same reports, span builders and exporters as a live
 * run: each request's slices and events per thread, its ids, and its
 * workload record. The writer puts each request's lines together, so a
 * request is complete when the next request's lines begin; memory holds one
 * request at a time (more only for a file whose requests interleave). In a
 * merged capture a request is the client's side, with each server's side
 * of it in `remote`.
 */
export function* capturedRequests(reader: TraceReader): Generator<FinishedRequest> {
  const pending = new Map<string, Pending>();
  let current: string | null = null;
  // Epoch ms of the file's timestamp 0; a capture from before the header said it started arrivalMs before its first request.
  let origin: number | undefined;
  const assemble = (events: TraceEventLine[]): FinishedRequest => {
    const req = assembled(events, reader.header);
    const header = reader.header;
    if (origin === undefined && header) origin = header.timeOrigin ?? header.startedAt - (req.start - req.workload.arrivalMs);
    for (const side of [req, ...(req.remote ?? [])]) side.epochOrigin = origin;
    return req;
  };
  for (const e of reader.events()) {
    const rid = e.args?.rid;
    if (typeof rid !== 'string' || e.pid < PID_MAIN || e.ph === 'M' || e.ph === 's' || e.ph === 'f') continue;
    if (rid !== current) {
      const done = current === null ? undefined : pending.get(current);
      if (done?.complete) {
        pending.delete(current!);
        yield assemble(done.events);
      }
      current = rid;
    }
    let p = pending.get(rid);
    const opensRequest = isMain(e.pid) && isRequestSlice(e);
    if (p && opensRequest && p.mains.has(e.pid)) {
      // Clients may reuse an id; each request's lines start with its main-thread slice.
      pending.delete(rid);
      if (p.complete) yield assemble(p.events);
      p = undefined;
    }
    if (!p) pending.set(rid, (p = { events: [], complete: false, mains: new Set() }));
    if (opensRequest) p.mains.add(e.pid);
    if (e.name === WORKLOAD_EVENT || e.name === PART_WORKLOAD_EVENT) p.complete = true;
    p.events.push(e);
  }
  for (const p of pending.values()) if (p.complete) yield assemble(p.events);
}

/** A request from its lines: in a merged capture, the side with the workload record (the client's), the others under it. */
function assembled(events: TraceEventLine[], header: TraceHeader | null): FinishedRequest {
  const captures = header?.merged?.captures;
  if (!captures) return finished(events, header, PID_MAIN, header?.role === 'client').req;
  const sides = new Map<number, TraceEventLine[]>();
  for (const e of events) {
    const k = captureOf(e.pid);
    const list = sides.get(k) ?? [];
    list.push(e);
    sides.set(k, list);
  }
  const parts = [...sides.entries()].sort((a, b) => a[0] - b[0]).map(([k, list]) => finished(list, header, mainPid(k), captures[k]?.role === 'client'));
  const main = parts.find((r) => r.primary) ?? parts[0];
  const remote = parts.filter((r) => r !== main).map((r) => r.req);
  return remote.length ? { ...main.req, remote } : main.req;
}

/** One side of a request (`pid` its main thread); `primary` when its workload record is the request's own, not a server's part. */
function finished(events: TraceEventLine[], header: TraceHeader | null, pid: number, client: boolean): { req: FinishedRequest; primary: boolean } {
  const mainThread = events.find((e) => e.pid === pid && isRequestSlice(e));
  const workload = events.find((e) => e.name === WORKLOAD_EVENT) ?? events.find((e) => e.name === PART_WORKLOAD_EVENT);
  const w = workload!.args as unknown as WorkloadRecord;
  const args = (mainThread?.args ?? {}) as Record<string, unknown>;
  const start = mainThread ? mainThread.ts / 1000 : 0;
  const end = mainThread ? (mainThread.ts + (mainThread.dur ?? 0)) / 1000 : w.e2eMs;
  const req: FinishedRequest = {
    rid: typeof args.server_rid === 'string' ? args.server_rid : w.rid,
    traceId: typeof args.trace_id === 'string' ? args.trace_id : newTraceId(),
    rootSpanId: typeof args.span_id === 'string' ? args.span_id : newSpanId(),
    parentSpanId: typeof args.parent_span_id === 'string' ? args.parent_span_id : null,
    level: (header?.trace.level ?? 1) as TraceLevel,
    modules: (client ? ['client'] : (header?.trace.modules ?? ['request'])) as FinishedRequest['modules'],
    spanStages: ALL_STAGES,
    spanEvents: ALL_EVENTS,
    start,
    end,
    main: records(events.filter((e) => e.pid === pid)),
    worker: records(events.filter((e) => e.pid === pid + 1)),
    error: typeof args.error === 'string' ? args.error : null,
    model: header?.model.id ?? 'unknown',
    operation: 'text_completion',
    workload: w,
    ...(client ? { client: true } : {}),
  };
  return { req, primary: workload!.name === WORKLOAD_EVENT };
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
 * A capture opened for the trace subcommands: its requests stream once
 * through `requests()`. A file cut short is reported through `warn` when
 * reading reaches its end; one with no finished request is an error there
 * (every report of it would be empty or NaN).
 */
export class Capture {
  readonly reader: TraceReader;
  /** Requests read so far. */
  count = 0;

  constructor(
    readonly path: string,
    private readonly warn: (message: string) => void,
  ) {
    this.reader = new TraceReader(path);
  }

  *requests(): Generator<FinishedRequest> {
    for (const r of capturedRequests(this.reader)) {
      this.count++;
      yield r;
    }
    this.finish();
  }

  /** Every event of the file as read (for a conversion that copies them), requests counted by their workload records. */
  *events(): Generator<TraceEventLine> {
    for (const e of this.reader.events()) {
      if (e.name === WORKLOAD_EVENT) this.count++;
      yield e;
    }
    this.finish();
  }

  private finish(): void {
    if (this.count === 0) throw new TraceFileError(`${this.path} holds no finished requests; capture some with --trace-file at trace level 1 or more.`);
    if (this.reader.truncated)
      this.warn(`${this.path} was cut short after line ${this.reader.completeLines}; using the ${this.count} requests it holds in full.`);
  }
}
