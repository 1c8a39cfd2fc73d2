import { PID_MAIN, captureOf, isRequestSlice, mainPid, requestSliceName } from './format.js';
import type { TraceEventLine } from './format.js';

/**
 * The capture with flow arrows (Trace Event "s"/"f" pairs) that follow each
 * request across threads: from its main-thread work to the scheduler worker
 * when it is dispatched, and back when its tokens are handed over. Yields
 * the JSON object form piece by piece as the capture streams; memory holds
 * the requests whose two thread slices have not both been read.
 */
export function* perfettoWithFlows(events: Iterable<TraceEventLine>): Generator<string> {
  yield '{"displayTimeUnit":"ms","traceEvents":[\n';
  let first = true;
  const line = (e: object): string => {
    const text = (first ? '' : ',') + JSON.stringify(e) + '\n';
    first = false;
    return text;
  };
  let flow = 1;
  const open = new Map<string, { main?: TraceEventLine; worker?: TraceEventLine }>();
  for (const e of events) {
    yield line(e);
    const rid = e.args?.rid;
    if (typeof rid !== 'string' || !isRequestSlice(e) || e.pid < PID_MAIN) continue;
    // In a merged capture each capture has its own main and worker pids (see mainPid), and a joined request one rid.
    const key = `${captureOf(e.pid)}|${rid}`;
    const entry = open.get(key) ?? {};
    if (e.pid === mainPid(captureOf(e.pid))) entry.main = e;
    else entry.worker = e;
    const { main, worker } = entry;
    if (!main || !worker) {
      open.set(key, entry);
      continue;
    }
    open.delete(key);
    const to = { name: requestSliceName(rid), cat: 'flow' };
    let arrows = line({ ...to, ph: 's', id: flow, pid: main.pid, tid: main.tid, ts: main.ts });
    arrows += line({ ...to, ph: 'f', bp: 'e', id: flow++, pid: worker.pid, tid: worker.tid, ts: worker.ts });
    const end = worker.ts + (worker.dur ?? 0);
    arrows += line({ ...to, ph: 's', id: flow, pid: worker.pid, tid: worker.tid, ts: end });
    arrows += line({ ...to, ph: 'f', bp: 'e', id: flow++, pid: main.pid, tid: main.tid, ts: Math.min(end, main.ts + (main.dur ?? 0)) });
    yield arrows;
  }
  yield ']}\n';
}
