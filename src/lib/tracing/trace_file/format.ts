/**
 * The trace file's format (DESIGN.md §4), in one place for the writer, the
 * reader and every tool that reads captures: Chrome Trace Event Format in
 * its JSON array form, one event per line.
 */

/** The process that holds a request's main-thread track (tokenizer, detokenizer, API). */
export const PID_MAIN = 1;
/** The process that holds its scheduler-worker track (scheduler, onnxruntime). */
export const PID_WORKER = 2;
/** The header event: tool version, model, device, engine settings, trace level and modules. */
export const HEADER_EVENT = 'sgl.header';
/** One per finished request: its workload record, what replay re-issues. */
export const WORKLOAD_EVENT = 'sgl.workload';
/** In a merged capture, a server's workload record of a request the client's record already stands for. */
export const PART_WORKLOAD_EVENT = 'sgl.part_workload';

/**
 * A merged capture (`sgl trace merge`) gives capture k the processes
 * 2k+1 (main, or the client) and 2k+2 (its scheduler worker): capture 0
 * keeps PID_MAIN and PID_WORKER, and an odd pid is always a main thread.
 */
export function mainPid(capture: number): number {
  return 2 * capture + PID_MAIN;
}

/** Which capture of a merged file a pid belongs to. */
export function captureOf(pid: number): number {
  return (pid - PID_MAIN) >> 1;
}

/** One capture of a merged file, as its header lists them. */
export interface MergedCapture {
  file: string;
  role: 'client' | 'server';
  instanceId?: string;
  host?: string;
  model: string;
  /** Its main (or client) process; the scheduler worker is the next pid. */
  pid: number;
  /** Microseconds added to its timestamps to put them on the merged clock. */
  shiftUs: number;
  /** How its clock was aligned, in words. */
  clock: string;
  /** Requests it shares with the client. */
  joined: number;
}

/** One line of the file. */
export interface TraceEventLine {
  name: string;
  /** X: a complete slice; i: an instant event; M: metadata. */
  ph: string;
  pid: number;
  tid: number;
  /** Microseconds. */
  ts: number;
  dur?: number;
  /** Instant-event scope: t (thread) or g (global). */
  s?: 't' | 'g';
  cat?: string;
  args?: Record<string, unknown>;
}

const REQUEST_PREFIX = 'request ';

/** The name of a request's thread-level slice on a track, which carries its ids. */
export function requestSliceName(rid: string): string {
  return `${REQUEST_PREFIX}${rid}`;
}

/** Whether a slice is a request's thread-level slice (not a stage). */
export function isRequestSlice(e: TraceEventLine): boolean {
  return e.ph === 'X' && e.name.startsWith(REQUEST_PREFIX);
}
