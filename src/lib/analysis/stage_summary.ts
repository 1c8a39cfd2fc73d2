import { percentile } from '../stats/distribution.js';
import type { FinishedRequest } from '../tracing/finished_request.js';
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
export function summarizeStages(requests: Iterable<FinishedRequest>): StageSummary[] {
  const summary = new StageSummarizer();
  for (const req of requests) summary.add(req);
  return summary.result();
}

/** Per-stage statistics built one request at a time (a capture that streams): per request, a total and a share per stage. */
export class StageSummarizer {
  private readonly byStage = new Map<string, { module: string; thread: string; totals: number[]; shares: number[]; slices: number; order: number }>();

  /** A merged request's server sides count too, their shares of the client's E2E. */
  add(req: FinishedRequest, e2e = req.end - req.start): void {
    for (const part of req.remote ?? []) this.add(part, e2e);
    stageRows(req).forEach((row, order) => {
      let s = this.byStage.get(row.stage);
      if (!s) {
        s = { module: row.module, thread: row.thread, totals: [], shares: [], slices: 0, order };
        this.byStage.set(row.stage, s);
      }
      s.totals.push(row.totalMs);
      s.shares.push(e2e > 0 ? row.wallMs / e2e : 0);
      s.slices += row.intervals.length / 2;
      s.order = Math.min(s.order, order);
    });
  }

  result(): StageSummary[] {
    return [...this.byStage.entries()]
      .sort((a, b) => a[1].order - b[1].order)
      .map(([stage, s]) => {
        const sorted = Float64Array.from(s.totals).sort();
        let total = 0;
        for (const t of sorted) total += t;
        let shares = 0;
        for (const x of s.shares) shares += x;
        return {
          stage,
          module: s.module,
          thread: s.thread,
          requests: sorted.length,
          slices: s.slices,
          meanMs: total / sorted.length,
          p50Ms: percentile(sorted, 50),
          p90Ms: percentile(sorted, 90),
          p99Ms: percentile(sorted, 99),
          maxMs: sorted[sorted.length - 1],
          shareOfE2e: shares / s.shares.length,
        };
      });
  }
}
