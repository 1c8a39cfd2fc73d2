import { TraceFileError } from '../errors.js';
import type { WorkloadRecord } from '../tracing/finished_request.js';
import type { TraceHeader } from '../tracing/tracing.js';
import { PID_MAIN, WORKLOAD_EVENT, isRequestSlice } from '../tracing/trace_file/format.js';
import { TraceReader } from '../tracing/trace_file/reader.js';

/** What pass 1 learns of one capture: its header, its clock origin, and each request's ids and extent. */
export interface Scan {
  path: string;
  header: TraceHeader;
  /** Epoch ms of the file's timestamp 0. */
  origin: number;
  /** Per request: root span id → [parent span id, start µs, end µs] (its main-thread request slice). */
  requests: Map<string, [string | null, number, number]>;
  /** The parent span ids of its requests (the client's root spans, for a server's). */
  parents: Set<string>;
}

export function scan(path: string): Scan {
  const reader = new TraceReader(path);
  const requests = new Map<string, [string | null, number, number]>();
  let first: { ts: number; rid: string } | null = null;
  let derived: number | null = null;
  for (const e of reader.events()) {
    if (e.pid !== PID_MAIN) continue;
    if (isRequestSlice(e) && typeof e.args?.span_id === 'string') {
      requests.set(e.args.span_id, [typeof e.args.parent_span_id === 'string' ? e.args.parent_span_id : null, e.ts, e.ts + (e.dur ?? 0)]);
      first ??= { ts: e.ts, rid: String(e.args.rid) };
    } else if (e.name === WORKLOAD_EVENT && derived === null && first && (e.args as unknown as WorkloadRecord).rid === first.rid) {
      // Captures made before the header named its clock origin: the capture started arrivalMs before its first request.
      derived = first.ts / 1000 - (e.args as unknown as WorkloadRecord).arrivalMs;
    }
  }
  const header = reader.header;
  if (!header) throw new TraceFileError(`${path} has no sgl header; sgl trace merge joins captures written with --trace-file.`);
  if (header.merged) throw new TraceFileError(`${path} is already a merged capture; merge the original captures together instead.`);
  const origin = header.timeOrigin ?? header.startedAt - (derived ?? 0);
  const parents = new Set<string>();
  for (const [parent] of requests.values()) if (parent !== null) parents.add(parent);
  return { path, header, origin, requests, parents };
}

/** How a capture's clock was put on the client's: its offset (ms, added) and in words. */
export interface Alignment {
  offsetMs: number;
  how: string;
  /** Requests it shares with the client. */
  joined: number;
}

/**
 * What the requests both sides saw say about a server's clock offset (ms,
 * added to its wall-clock times): each reached the server after the client
 * sent it and left before the client's end, so each bounds the offset from
 * both sides, as NTP bounds it from four timestamps.
 */
function offsetBounds(client: Scan, server: Scan): { lo: number; hi: number; mids: number[] } {
  const base = client.origin - server.origin;
  let lo = -Infinity;
  let hi = Infinity;
  const mids: number[] = [];
  for (const [, [parent, ss, se]] of server.requests) {
    const c = parent === null ? undefined : client.requests.get(parent);
    if (!c) continue;
    const [, cs, ce] = c;
    const low = base + (cs - ss) / 1000;
    const high = base + (ce - se) / 1000;
    lo = Math.max(lo, low);
    hi = Math.min(hi, high);
    mids.push((low + high) / 2);
  }
  return { lo, hi, mids };
}

/**
 * Puts a capture on the client's clock. Captures from the client's host
 * share its wall clock, unless the requests they share contradict it (the
 * wall clock stepped between the processes' starts); then, as for another
 * host, the offset is estimated: the middle of the tightest bounds, or,
 * when the bounds cross (the two sides disagree by more than the network
 * time), the median of the per-request midpoints, with a warning.
 */
export function align(client: Scan | null, s: Scan, warn: (m: string) => void): Alignment {
  if (!client || s === client) return { offsetMs: 0, how: client ? 'reference' : 'wall clock', joined: 0 };
  const { lo, hi, mids } = offsetBounds(client, s);
  const joined = mids.length;
  const sameHost = s.header.host !== undefined && s.header.host === client.header.host;
  // A microsecond of slack: the files round times to the nanosecond.
  if (sameHost && (joined === 0 || (lo <= 1e-3 && hi >= -1e-3))) return { offsetMs: 0, how: `wall clock (same host ${s.header.host})`, joined };
  if (joined === 0)
    return { offsetMs: 0, how: `not aligned: it shares no request with the client, and ${s.header.host ?? 'its host'} is another machine`, joined };
  const why = sameHost ? `the wall clock of ${s.header.host} contradicts ${joined} shared requests (did it step?); ` : '';
  if (lo <= hi) return { offsetMs: (lo + hi) / 2, how: `${why}estimated from ${joined} shared requests, ±${((hi - lo) / 2).toFixed(3)} ms`, joined };
  mids.sort((a, b) => a - b);
  warn(
    `${s.path}: the shared requests do not fit one clock offset (their bounds cross by ${(lo - hi).toFixed(3)} ms); took the median of ${joined} estimates.`,
  );
  return {
    offsetMs: mids[joined >> 1],
    how: `${why}estimated from ${joined} shared requests (median; the bounds cross by ${(lo - hi).toFixed(3)} ms)`,
    joined,
  };
}
