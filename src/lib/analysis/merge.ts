import { TraceFileError } from '../errors.js';
import type { TraceHeader } from '../tracing/tracing.js';
import { HEADER_EVENT, PART_WORKLOAD_EVENT, PID_MAIN, WORKLOAD_EVENT, isRequestSlice, mainPid } from '../tracing/trace_file/format.js';
import type { MergedCapture, TraceEventLine } from '../tracing/trace_file/format.js';
import { TraceReader } from '../tracing/trace_file/reader.js';
import { dur } from '../tracing/trace_file/writer.js';

import { align, scan } from './clock_alignment.js';
/** One request's lines in a capture (the writer puts them together), or a line that belongs to no request. */
type Group = { rid: string; spanId: string | null; parent: string | null; events: TraceEventLine[] } | { line: TraceEventLine };

function* groups(path: string): Generator<Group> {
  let current: { rid: string; spanId: string | null; parent: string | null; events: TraceEventLine[] } | null = null;
  for (const e of new TraceReader(path).events()) {
    const rid = e.args?.rid;
    if (typeof rid !== 'string' || e.pid === 0) {
      if (e.name !== HEADER_EVENT && e.name !== 'process_name') yield { line: e };
      continue;
    }
    // A request's lines open with its main-thread request slice.
    if (current && (current.rid !== rid || (e.pid === PID_MAIN && isRequestSlice(e)))) {
      yield current;
      current = null;
    }
    current ??= { rid, spanId: null, parent: null, events: [] };
    if (e.pid === PID_MAIN && isRequestSlice(e)) {
      current.spanId = typeof e.args?.span_id === 'string' ? e.args.span_id : null;
      current.parent = typeof e.args?.parent_span_id === 'string' ? e.args.parent_span_id : null;
    }
    current.events.push(e);
  }
  if (current) yield current;
}

export interface MergeResult {
  captures: MergedCapture[];
  /** Client requests whose server side was found. */
  joined: number;
  clientOnly: number;
  serverOnly: number;
}

/**
 * Joins a client's capture and any number of servers' into one trace file
 * by trace id: one process group per capture, every timestamp on the
 * client's clock (the wall clock when captures share a host, else an offset
 * estimated from the requests both sides saw), each joined request's lines
 * together under the client's request id (a server's own id kept as
 * `server_rid`), and a flow arrow from each client request to its server
 * side. Reads each file twice; memory holds span ids (pass 1) and the
 * server requests that finished ahead of their client's (pass 2).
 */
export function* mergeCaptures(paths: readonly string[], warn: (message: string) => void, result: MergeResult): Generator<string> {
  const scans = paths.map(scan);
  const clients = scans.filter((s) => s.header.role === 'client');
  if (clients.length > 1)
    throw new TraceFileError(`${clients.map((c) => c.path).join(' and ')} are both client captures; merge one client's capture with the servers it sent to.`);
  const client = clients[0] ?? null;
  // The client first, so its process group is on top and its pids are 1 and 2.
  const order = client ? [client, ...scans.filter((s) => s !== client)] : scans;
  const alignments = order.map((s) => align(client, s, warn));
  const zero = Math.min(...order.map((s, k) => s.origin + alignments[k].offsetMs));
  const shiftUs = order.map((s, k) => Math.round((s.origin + alignments[k].offsetMs - zero) * 1e6) / 1e3);
  result.captures = order.map((s, k) => ({
    file: s.path,
    role: s.header.role ?? 'server',
    ...(s.header.instanceId ? { instanceId: s.header.instanceId } : {}),
    ...(s.header.host ? { host: s.header.host } : {}),
    model: s.header.model.id,
    pid: mainPid(k),
    shiftUs: shiftUs[k],
    clock: alignments[k].how,
    joined: alignments[k].joined,
  }));
  const header: TraceHeader = { ...(client ?? order[0]).header, timeOrigin: zero, merged: { captures: result.captures } };
  let first = true;
  const out = (e: object): string => {
    const text = (first ? '' : ',') + JSON.stringify(e) + '\n';
    first = false;
    return text;
  };
  yield '[\n' + out({ name: HEADER_EVENT, ph: 'i', s: 'g', pid: 0, tid: 0, ts: 0, args: header });
  for (const [k, s] of order.entries()) {
    const who =
      s.header.role === 'client'
        ? `client ${s.path} (requests to ${s.header.model.dir})`
        : `server ${s.header.instanceId?.slice(0, 8) ?? s.path}${s.header.host ? ` on ${s.header.host}` : ''}`;
    yield out({
      name: 'process_name',
      ph: 'M',
      pid: mainPid(k),
      tid: 0,
      ts: 0,
      args: { name: s.header.role === 'client' ? who : `${who}: main (tokenizer, detokenizer, API)` },
    });
    yield out({ name: 'process_sort_index', ph: 'M', pid: mainPid(k), tid: 0, ts: 0, args: { sort_index: 2 * k } });
    if (s.header.role === 'client') continue;
    yield out({ name: 'process_name', ph: 'M', pid: mainPid(k) + 1, tid: 0, ts: 0, args: { name: `${who}: scheduler worker (scheduler, onnxruntime)` } });
    yield out({ name: 'process_sort_index', ph: 'M', pid: mainPid(k) + 1, tid: 0, ts: 0, args: { sort_index: 2 * k + 1 } });
  }

  /** A capture's line on the merged clock and pids; a joined server request takes the client's rid. */
  const place = (e: TraceEventLine, k: number, rid: string | null): TraceEventLine => {
    const placed: TraceEventLine = { ...e, pid: e.pid + mainPid(k) - PID_MAIN, ts: e.ph === 'M' ? e.ts : Math.round((e.ts + shiftUs[k]) * 1e3) / 1e3 };
    // A slice's end is moved as its start is, and its duration written so that ts + dur lands on it exactly, as the writer does.
    if (e.ph === 'X' && e.dur !== undefined) placed.dur = dur(placed.ts, Math.round((e.ts + e.dur + shiftUs[k]) * 1e3) / 1e3);
    if (rid !== null && e.args) placed.args = { ...e.args, rid, ...(isRequestSlice(e) ? { server_rid: e.args.rid } : {}) };
    // Only the client's workload records are the merged file's workload: a replay of it re-sends the client's requests once.
    if (client && order[k] !== client && e.name === WORKLOAD_EVENT) placed.name = PART_WORKLOAD_EVENT;
    return placed;
  };
  const servers = order.map((s, k) => (s === client ? null : { k, lines: groups(s.path), waiting: new Map<string, TraceEventLine[][]>(), done: false }));
  // Their own category and an id range of their own: convert --to perfetto adds main→worker arrows numbered from 1.
  let flow = 2 ** 30;
  const lines = (g: Extract<Group, { rid: string }>, k: number, rid: string | null): string => g.events.map((e) => out(place(e, k, rid))).join('');
  const orphan = (g: Extract<Group, { rid: string }>, k: number): string => {
    result.serverOnly++;
    return lines(g, k, null);
  };
  if (client) {
    for (const g of groups(client.path)) {
      if ('line' in g) {
        if (g.line.ph === 'M') yield out(place(g.line, 0, null));
        continue;
      }
      yield lines(g, 0, null);
      const spanId = g.spanId;
      const clientSlice = g.events.find((e) => e.pid === PID_MAIN && isRequestSlice(e));
      // Server requests without a client that turn up while pulling are written after this request's lines, which stay together.
      const later: string[] = [];
      let found = false;
      for (const srv of servers) {
        if (!srv || spanId === null) continue;
        const scanOf = order[srv.k];
        // Pull this server's requests until this one's server side turns up; those of later client requests wait.
        let parts = srv.waiting.get(spanId);
        if (!parts) {
          while (scanOf.parents.has(spanId) && !srv.done) {
            const next = srv.lines.next();
            if (next.done) {
              srv.done = true;
              break;
            }
            const sg = next.value;
            if ('line' in sg) {
              if (sg.line.ph === 'M') yield out(place(sg.line, srv.k, null));
              continue;
            }
            if (sg.parent !== null && client.requests.has(sg.parent)) {
              const list = srv.waiting.get(sg.parent) ?? [];
              list.push(sg.events);
              srv.waiting.set(sg.parent, list);
              if (sg.parent === spanId) break;
            } else later.push(orphan(sg, srv.k));
          }
          parts = srv.waiting.get(spanId);
        }
        if (!parts) continue;
        srv.waiting.delete(spanId);
        for (const events of parts) {
          found = true;
          const placed = events.map((e) => place(e, srv.k, g.rid));
          yield placed.map((e) => out(e)).join('');
          const serverSlice = placed.find((e) => e.pid === mainPid(srv.k) && isRequestSlice(e));
          if (clientSlice && serverSlice) {
            const cs = place(clientSlice, 0, null);
            const at = Math.min(Math.max(serverSlice.ts, cs.ts), cs.ts + (cs.dur ?? 0));
            yield out({ name: 'http', cat: 'http', ph: 's', id: flow, pid: cs.pid, tid: cs.tid, ts: at, args: { rid: g.rid } });
            yield out({
              name: 'http',
              cat: 'http',
              ph: 'f',
              bp: 'e',
              id: flow++,
              pid: serverSlice.pid,
              tid: serverSlice.tid,
              ts: serverSlice.ts,
              args: { rid: g.rid },
            });
          }
        }
      }
      if (found) result.joined++;
      else result.clientOnly++;
      yield* later;
    }
  }
  for (const srv of servers) {
    if (!srv) continue;
    for (const waiting of srv.waiting.values())
      for (const events of waiting) yield orphan({ rid: String(events[0].args?.rid), spanId: null, parent: null, events }, srv.k);
    if (srv.done) continue;
    for (const sg of srv.lines) yield 'line' in sg ? (sg.line.ph === 'M' ? out(place(sg.line, srv.k, null)) : '') : orphan(sg, srv.k);
  }
  yield ']\n';
}
