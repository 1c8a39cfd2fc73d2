import { compactTable } from './compact_table.js';
import type { StageSummary } from '../analysis/stage_summary.js';

export function formatStageTable(rows: readonly StageSummary[]): string {
  const table = compactTable(['stage', 'module', 'thread', 'requests', 'slices', 'mean ms', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', '% of e2e'], 3);
  const f = (v: number): string => v.toFixed(3);
  for (const r of rows)
    table.push([
      r.stage,
      r.module,
      r.thread,
      r.requests,
      r.slices,
      f(r.meanMs),
      f(r.p50Ms),
      f(r.p90Ms),
      f(r.p99Ms),
      f(r.maxMs),
      (r.shareOfE2e * 100).toFixed(1),
    ]);
  return table.toString();
}
