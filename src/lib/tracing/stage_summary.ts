import { percentile } from '../stats/distribution.js';
import type { FinishedRequest } from './finished_request.js';
import { stageRows } from './stage_rows.js';

export interface StageSummary {
  stage: string;
  module: string;
  thread: string;
  /** Requests the stage appeared in. */
  requests: number;
  /** Slices over all requests. */
  slices: number;
  /** Per-request total time of the stage, ms. */
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Mean share of the request's end-to-end wall time the stage covered (overlapping slices counted once). */
  shareOfE2e: number;
}

/** Per-stage statistics over finished requests, in the order stages first ran. */
export function summarizeStages(requests: readonly FinishedRequest[]): StageSummary[] {
  const byStage = new Map<string, { module: string; thread: string; totals: number[]; shares: number[]; slices: number; order: number }>();
  for (const req of requests) {
    const e2e = req.end - req.start;
    stageRows(req).forEach((row, order) => {
      let s = byStage.get(row.stage);
      if (!s) {
        s = { module: row.module, thread: row.thread, totals: [], shares: [], slices: 0, order };
        byStage.set(row.stage, s);
      }
      s.totals.push(row.totalMs);
      s.shares.push(e2e > 0 ? row.wallMs / e2e : 0);
      s.slices += row.intervals.length / 2;
      s.order = Math.min(s.order, order);
    });
  }
  return [...byStage.entries()]
    .sort((a, b) => a[1].order - b[1].order)
    .map(([stage, s]) => {
      const sorted = [...s.totals].sort((a, b) => a - b);
      return {
        stage,
        module: s.module,
        thread: s.thread,
        requests: s.totals.length,
        slices: s.slices,
        meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
        p50Ms: percentile(sorted, 50),
        p90Ms: percentile(sorted, 90),
        p99Ms: percentile(sorted, 99),
        maxMs: sorted[sorted.length - 1],
        shareOfE2e: s.shares.reduce((a, b) => a + b, 0) / s.shares.length,
      };
    });
}
