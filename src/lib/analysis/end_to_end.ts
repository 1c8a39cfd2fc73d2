import type { FinishedRequest } from '../tracing/finished_request.js';
import { slices } from '../tracing/records.js';
import { STAGES } from '../tracing/stages.js';
import { unionOf, uncoveredLength } from '../stats/intervals.js';

/** Where one request's time went, as its client saw it: every millisecond of the client's E2E in exactly one place. */
export interface EndToEnd {
  rid: string;
  clientE2eMs: number;
  /** Client time outside the server's handling of the request: connecting, sending, the network and any proxy both ways. */
  networkMs: number;
  /** Server time by stage, each instant counted once (see PRIORITY). */
  serverStages: Record<string, number>;
  /** Server time no stage covers. */
  serverOtherMs: number;
  /**
   * From the server writing the first token to the client reading it: the
   * network, plus whatever a proxy between them held it for (one that
   * buffers a stream shows here first). Null without a first token on both sides.
   */
  firstTokenTransitMs: number | null;
}

/**
 * Which stage an instant of server time counts for when stages overlap: the
 * scheduler worker's (the request's critical path) before the main
 * thread's (whose detokenize and respond run alongside the decode loop),
 * each thread's in stage order; level 1 and 2 stages, not nested ones.
 */
const PRIORITY = [...STAGES.filter((s) => s.thread === 'worker'), ...STAGES.filter((s) => s.thread === 'main')]
  .filter((s) => s.module !== 'client' && s.level <= 2 && !s.nested)
  .map((s) => s.id);

/**
 * A merged request's client E2E split into network/HTTP and the server's
 * stages; null for a request that has no server side (not from a merged
 * capture, or the server's capture lacked it).
 */
export function endToEnd(req: FinishedRequest): EndToEnd | null {
  if (!req.client || !req.remote?.length) return null;
  const cs = req.start;
  const ce = req.end;
  const byStage = new Map<number, [number, number][]>();
  const extents: [number, number][] = [];
  for (const part of req.remote) {
    extents.push([part.start, part.end]);
    for (const records of [part.main, part.worker]) {
      for (const s of slices(records)) {
        const list = byStage.get(s.id) ?? [];
        list.push([s.start, s.end]);
        byStage.set(s.id, list);
      }
    }
  }
  const server = unionOf(extents, cs, ce);
  const serverMs = uncoveredLength(server, []);
  const serverStages: Record<string, number> = {};
  let taken: [number, number][] = [];
  let attributed = 0;
  for (const id of PRIORITY) {
    const pairs = byStage.get(id);
    if (!pairs) continue;
    // Only server time counts: a stage is clipped to the server's handling, and to the client's view of it (sorted, disjoint).
    const mine = unionOf(pairs, cs, ce)
      .flatMap(([a, b]) => server.map(([c, d]) => [Math.max(a, c), Math.min(b, d)] as [number, number]))
      .filter(([a, b]) => b > a);
    const ms = uncoveredLength(mine, taken);
    if (ms > 0) {
      serverStages[STAGES[id].name] = ms;
      attributed += ms;
    }
    taken = unionOf([...taken, ...mine], -Infinity, Infinity);
  }
  const last = req.remote[req.remote.length - 1];
  const transit = req.workload.ttftMs === null || last.workload.ttftMs === null ? null : cs + req.workload.ttftMs - (last.start + last.workload.ttftMs);
  return {
    rid: req.rid,
    clientE2eMs: ce - cs,
    networkMs: ce - cs - serverMs,
    serverStages,
    serverOtherMs: Math.max(0, serverMs - attributed),
    firstTokenTransitMs: transit,
  };
}
