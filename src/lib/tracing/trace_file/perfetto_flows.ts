import { PID_MAIN, PID_WORKER, isRequestSlice, requestSliceName } from './format.js';
import type { TraceFile } from './reader.js';

/**
 * The capture with flow arrows (Trace Event "s"/"f" pairs) that follow each
 * request across threads: from its main-thread work to the scheduler worker
 * when it is dispatched, and back when its tokens are handed over.
 */
export function perfettoWithFlows(trace: TraceFile): string {
  const out: object[] = [...trace.events];
  let flow = 1;
  const byRid = new Map<string, { main?: (typeof trace.events)[number]; worker?: (typeof trace.events)[number] }>();
  for (const e of trace.events) {
    const rid = e.args?.rid;
    if (typeof rid !== 'string' || !isRequestSlice(e)) continue;
    const entry = byRid.get(rid) ?? {};
    if (e.pid === PID_MAIN) entry.main = e;
    if (e.pid === PID_WORKER) entry.worker = e;
    byRid.set(rid, entry);
  }
  for (const [rid, { main, worker }] of byRid) {
    if (!main || !worker) continue;
    const to = { name: requestSliceName(rid), cat: 'flow' };
    out.push({ ...to, ph: 's', id: flow, pid: PID_MAIN, tid: main.tid, ts: main.ts });
    out.push({ ...to, ph: 'f', bp: 'e', id: flow++, pid: PID_WORKER, tid: worker.tid, ts: worker.ts });
    const end = worker.ts + (worker.dur ?? 0);
    out.push({ ...to, ph: 's', id: flow, pid: PID_WORKER, tid: worker.tid, ts: end });
    out.push({ ...to, ph: 'f', bp: 'e', id: flow++, pid: PID_MAIN, tid: main.tid, ts: Math.min(end, main.ts + (main.dur ?? 0)) });
  }
  return JSON.stringify({ traceEvents: out, displayTimeUnit: 'ms' }) + '\n';
}
