import type { FinishedRequest } from '../tracing/finished_request.js';
import { STAGES } from '../tracing/stages.js';
import type { Thread } from '../tracing/stages.js';
import { slices } from '../tracing/records.js';

/** One stage of one request: every slice of it, in ms from the request's start. */
export interface StageRow {
  stage: string;
  module: string;
  thread: Thread;
  depth: number;
  /** [start, end] pairs in ms from the request's arrival. */
  intervals: number[];
  totalMs: number;
}

/**
 * A request's stages in the order they first ran, each with all of its
 * slices: the data behind the terminal waterfall and the stage table.
 */
export function stageRows(req: FinishedRequest): StageRow[] {
  const rows = new Map<number, StageRow & { first: number }>();
  for (const records of [req.main, req.worker]) {
    for (const s of slices(records, req.spanStages)) {
      const start = s.start - req.start;
      const end = s.end - req.start;
      let row = rows.get(s.id);
      if (!row) {
        const def = STAGES[s.id];
        row = { stage: def.name, module: def.module, thread: def.thread, depth: s.depth, intervals: [], totalMs: 0, first: start };
        rows.set(s.id, row);
      }
      row.intervals.push(start, end);
      row.totalMs += end - start;
      row.first = Math.min(row.first, start);
      row.depth = Math.min(row.depth, s.depth);
    }
  }
  return [...rows.values()].sort((a, b) => a.first - b.first || a.depth - b.depth).map(({ first: _first, ...row }) => row);
}
