import type { FinishedRequest } from './finished_request.js';

/**
 * The one codec for trace records: a request's instrumentation on one
 * thread is a Float64Array of RECORD doubles each (kind, id, start, end,
 * depth, attribute a, attribute b). The hot path writes them with
 * `writeRecord`; everything else reads them through the iterators below,
 * and nothing else indexes them.
 */
export const RECORD = 7;
export const KIND_SLICE = 0;
export const KIND_EVENT = 1;
/** A slice that was still open when its request was aborted. */
export const KIND_ABORTED = 2;

export interface SliceRecord {
  /** Stage id (see stages.ts). */
  id: number;
  start: number;
  end: number;
  depth: number;
  aborted: boolean;
}

export interface EventRecord {
  /** Event id (see stages.ts). */
  id: number;
  t: number;
  a: number;
  b: number;
}

/** Writes one record at `i` (the caller has made room). */
export function writeRecord(buf: Float64Array, i: number, kind: number, id: number, start: number, end: number, depth: number, a: number, b: number): void {
  buf[i] = kind;
  buf[i + 1] = id;
  buf[i + 2] = start;
  buf[i + 3] = end;
  buf[i + 4] = depth;
  buf[i + 5] = a;
  buf[i + 6] = b;
}

/** Every slice, aborted ones included, in record order; `visible` (by stage id) filters them. */
export function slices(records: Float64Array, visible?: Uint8Array): SliceRecord[] {
  const out: SliceRecord[] = [];
  for (let i = 0; i < records.length; i += RECORD) {
    const kind = records[i];
    const id = records[i + 1];
    if (kind === KIND_EVENT || (visible && !visible[id])) continue;
    out.push({ id, start: records[i + 2], end: records[i + 3], depth: records[i + 4], aborted: kind === KIND_ABORTED });
  }
  return out;
}

/** Every event in record order; `visible` (by event id) filters them. */
export function events(records: Float64Array, visible?: Uint8Array): EventRecord[] {
  const out: EventRecord[] = [];
  for (let i = 0; i < records.length; i += RECORD) {
    const id = records[i + 1];
    if (records[i] !== KIND_EVENT || (visible && !visible[id])) continue;
    out.push({ id, t: records[i + 2], a: records[i + 5], b: records[i + 6] });
  }
  return out;
}

/** Each slice's stage id and duration in ms, without allocating: for per-request totals and metrics. */
export function forEachSliceTime(records: Float64Array, add: (id: number, ms: number) => void): void {
  for (let i = 0; i < records.length; i += RECORD) if (records[i] !== KIND_EVENT) add(records[i + 1], records[i + 3] - records[i + 2]);
}

/** What a request shows on one thread: its visible slices and events, and the thread's extent. */
export interface ThreadView {
  thread: 'main' | 'worker';
  start: number;
  end: number;
  slices: SliceRecord[];
  events: EventRecord[];
}

/**
 * The rule for a request's thread spans, written once: a thread shows when
 * it has a visible slice or event, and spans from its first to its last
 * slice (the main thread at least the whole request; a thread with events
 * only, the whole request). `keepMain` keeps the main thread even when
 * nothing on it is visible (the trace file hangs the request's ids on it).
 */
export function threadViews(req: FinishedRequest, keepMain = false): ThreadView[] {
  const views: ThreadView[] = [];
  for (const thread of ['main', 'worker'] as const) {
    const records = thread === 'main' ? req.main : req.worker;
    const view: ThreadView = {
      thread,
      start: thread === 'main' ? req.start : Infinity,
      end: thread === 'main' ? req.end : -Infinity,
      slices: slices(records, req.spanStages),
      events: events(records, req.spanEvents),
    };
    if (view.slices.length === 0 && view.events.length === 0 && !(keepMain && thread === 'main')) continue;
    for (const s of view.slices) {
      view.start = Math.min(view.start, s.start);
      view.end = Math.max(view.end, s.end);
    }
    if (view.slices.length === 0) {
      view.start = Math.min(view.start, req.start);
      view.end = Math.max(view.end, req.end);
    }
    views.push(view);
  }
  return views;
}

/** Spans a request becomes: its root, one per thread it shows on, one per visible stage slice (as requestSpans builds them). */
export function spanCount(req: FinishedRequest): number {
  return threadViews(req).reduce((n, view) => n + 1 + view.slices.length, 1);
}
