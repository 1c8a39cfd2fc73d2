import type { FinishedRequest } from '../tracing/finished_request.js';
import { STAGES } from '../tracing/stages.js';
import type { Thread } from '../tracing/stages.js';
import { slices } from '../tracing/records.js';
import { lengthOf, unionOf } from '../stats/intervals.js';
import type { Interval } from '../stats/intervals.js';

/** One stage of one request: every slice of it, in ms from the request's start. */
export interface StageRow {
  stage: string;
  module: string;
  thread: Thread;
  depth: number;
  /** [start, end] pairs in ms from the request's arrival. */
  intervals: number[];
  /** The sum of the slices. */
  totalMs: number;
  /** The wall time the slices cover, overlapping ones counted once: never more than the request's E2E. */
  wallMs: number;
}

/** The length of the union of [start, end] pairs, given flat (start, end, start, end, ...). */
export function unionMs(intervals: readonly number[]): number {
  const pairs: Interval[] = [];
  for (let i = 0; i < intervals.length; i += 2) pairs.push([intervals[i], intervals[i + 1]]);
  return lengthOf(unionOf(pairs));
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
        row = { stage: def.name, module: def.module, thread: def.thread, depth: s.depth, intervals: [], totalMs: 0, wallMs: 0, first: start };
        rows.set(s.id, row);
      }
      row.intervals.push(start, end);
      row.totalMs += end - start;
      row.first = Math.min(row.first, start);
      row.depth = Math.min(row.depth, s.depth);
    }
  }
  return [...rows.values()]
    .sort((a, b) => a.first - b.first || a.depth - b.depth)
    .map(({ first: _first, ...row }) => ({ ...row, wallMs: unionMs(row.intervals) }));
}

/** A waterfall row: one stage's slices under one parent row, with the index of that parent in the list (null at the top). */
export interface NestedRow extends StageRow {
  parent: number | null;
}

/**
 * A request's stages as a tree for the waterfall: a row sits under a parent
 * only when each of its slices lies inside a slice of that parent on the
 * same thread (the nearest such). A stage whose slices fall under different
 * parents (an onnxruntime run in a prefill chunk, and in a decode step) gets
 * a row under each. Parents come before their children; siblings in the
 * order they first ran.
 */
export function nestedRows(req: FinishedRequest): NestedRow[] {
  interface Node {
    key: string;
    row: StageRow;
    first: number;
    parent: Node | null;
    children: Node[];
  }
  const nodes = new Map<string, Node>();
  const roots: Node[] = [];
  const EPS = 1e-6;
  for (const records of [req.main, req.worker]) {
    const list = slices(records, req.spanStages).sort((a, b) => a.start - b.start || a.depth - b.depth);
    const open: { end: number; depth: number; node: Node }[] = [];
    for (const s of list) {
      const start = s.start - req.start;
      const end = s.end - req.start;
      while (open.length && !(open[open.length - 1].depth < s.depth && open[open.length - 1].end >= end - EPS)) open.pop();
      const top = open[open.length - 1];
      const parent = top ? top.node : null;
      const key = `${parent ? parent.key : ''}/${s.id}`;
      let node = nodes.get(key);
      if (!node) {
        const def = STAGES[s.id];
        node = {
          key,
          row: { stage: def.name, module: def.module, thread: def.thread, depth: parent ? parent.row.depth + 1 : 0, intervals: [], totalMs: 0, wallMs: 0 },
          first: start,
          parent,
          children: [],
        };
        nodes.set(key, node);
        (parent ? parent.children : roots).push(node);
      }
      node.row.intervals.push(start, end);
      node.row.totalMs += end - start;
      open.push({ end, depth: s.depth, node });
    }
  }
  const out: NestedRow[] = [];
  const visit = (list: Node[], parent: number | null): void => {
    for (const n of [...list].sort((a, b) => a.first - b.first)) {
      out.push({ ...n.row, wallMs: unionMs(n.row.intervals), parent });
      visit(n.children, out.length - 1);
    }
  };
  visit(roots, null);
  return out;
}
