import type { FinishedRequest } from '../tracing/finished_request.js';
import { STAGES } from '../tracing/stages.js';
import type { Thread } from '../tracing/stages.js';
import { KIND_EVENT, RECORD } from '../tracing/trace_context.js';

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
    for (let i = 0; i < records.length; i += RECORD) {
      const id = records[i + 1];
      if (records[i] === KIND_EVENT || !req.spanStages[id]) continue;
      const start = records[i + 2] - req.start;
      const end = records[i + 3] - req.start;
      let row = rows.get(id);
      if (!row) {
        const def = STAGES[id];
        row = { stage: def.name, module: def.module, thread: def.thread, depth: records[i + 4], intervals: [], totalMs: 0, first: start };
        rows.set(id, row);
      }
      row.intervals.push(start, end);
      row.totalMs += end - start;
      row.first = Math.min(row.first, start);
      row.depth = Math.min(row.depth, records[i + 4]);
    }
  }
  return [...rows.values()].sort((a, b) => a.first - b.first || a.depth - b.depth).map(({ first: _first, ...row }) => row);
}
