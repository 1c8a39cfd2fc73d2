import { PID_WORKER } from '../tracing/trace_file/format.js';
import type { TraceEventLine } from '../tracing/trace_file/format.js';

/**
 * The scheduler loop's own steps, read back from a level-3 capture: every
 * row of a step records the same slice, so a step is one slice start on the
 * worker's clock, however many requests carry it. What the simulator fits
 * its per-step costs on (DESIGN.md §5).
 */

/** One decode step: its slice (ms) and the `forward` event's batch size and padded past length. */
export interface DecodeStep {
  start: number;
  end: number;
  rows: number;
  past: number;
}

/** One KV repack: its slice (ms) and the rows of the batch it made. */
export interface Repack {
  start: number;
  end: number;
  rows: number;
}

export interface EngineSteps {
  decode: DecodeStep[];
  repacks: Repack[];
  /** Prefill chunk slices (ms), so a period that holds one is not taken for a decode step's. */
  prefills: { start: number; end: number }[];
  /** Prefill runs: the prefill_forward slice its rows share (ms; from the first chunk to the first tokens) and their request ids. */
  prefillRuns: PrefillRun[];
}

export interface PrefillRun {
  start: number;
  end: number;
  rids: string[];
}

/** Beyond this many distinct decode steps a profile says all it can; reading stops there. */
const MAX_STEPS = 200_000;

/** Collects the distinct steps of a capture's events (needs trace level 3 with the request, scheduler and engine modules). */
export function engineSteps(events: Iterable<TraceEventLine>): EngineSteps {
  const decode = new Map<number, { end: number }>();
  const forwards = new Map<number, { rows: number; past: number }>();
  const repacks = new Map<number, number>();
  const formed = new Map<number, number>();
  const prefills = new Map<number, number>();
  const runs = new Map<number, PrefillRun>();
  for (const e of events) {
    if (e.pid !== PID_WORKER) continue;
    if (e.ph === 'X') {
      const end = e.ts + (e.dur ?? 0);
      if (e.name === 'decode_forward') {
        // A step read without its forward event is left out below.
        if (decode.size >= MAX_STEPS && !decode.has(e.ts)) break;
        decode.set(e.ts, { end });
      } else if (e.name === 'kv_repack') repacks.set(e.ts, end);
      else if (e.name === 'chunked_prefill') prefills.set(e.ts, end);
      else if (e.name === 'prefill_forward' && typeof e.args?.rid === 'string') {
        const run = runs.get(e.ts) ?? runs.set(e.ts, { start: e.ts / 1000, end: end / 1000, rids: [] }).get(e.ts)!;
        run.rids.push(e.args.rid);
      }
    } else if (e.ph === 'i') {
      if (e.name === 'forward') forwards.set(e.ts, { rows: Number(e.args?.batch_size), past: Number(e.args?.past_length) });
      else if (e.name === 'batch_formed') formed.set(e.ts, Number(e.args?.batch_size));
    }
  }
  // A decode step's forward event lies inside its slice; prefill chunks have forward events of their own, outside any.
  const fwd = [...forwards.keys()].sort((a, b) => a - b);
  const steps: DecodeStep[] = [];
  let k = 0;
  for (const start of [...decode.keys()].sort((a, b) => a - b)) {
    const end = decode.get(start)!.end;
    while (k < fwd.length && fwd[k] < start) k++;
    if (k < fwd.length && fwd[k] <= end) {
      const f = forwards.get(fwd[k])!;
      if (Number.isFinite(f.rows) && Number.isFinite(f.past)) steps.push({ start: start / 1000, end: end / 1000, rows: f.rows, past: f.past });
    }
  }
  const repackList: Repack[] = [];
  for (const [start, end] of repacks) {
    const rows = formed.get(end);
    if (rows !== undefined && Number.isFinite(rows)) repackList.push({ start: start / 1000, end: end / 1000, rows });
  }
  repackList.sort((a, b) => a.start - b.start);
  const prefillList = [...prefills].map(([start, end]) => ({ start: start / 1000, end: end / 1000 })).sort((a, b) => a.start - b.start);
  const prefillRuns = [...runs.values()].sort((a, b) => a.start - b.start);
  return { decode: steps, repacks: repackList, prefills: prefillList, prefillRuns };
}

/** A decode step's period against its work: rows, and rows × the cache length each row attends over. */
export interface PeriodSample {
  rows: number;
  /** rows × (past + 1): the cache the step reads and the present tensors it writes. */
  rowTokens: number;
  ms: number;
}

/**
 * Periods of decode steps from one step's start to the next's, where nothing
 * else ran between them: the step, sampling, handing tokens over, and the
 * loop's turn. Repacks and prefills are costed on their own.
 */
export function decodePeriods(s: EngineSteps): PeriodSample[] {
  const others = [...s.repacks, ...s.prefills].map((x) => x.start).sort((a, b) => a - b);
  const out: PeriodSample[] = [];
  let k = 0;
  for (let i = 0; i + 1 < s.decode.length; i++) {
    const a = s.decode[i];
    const b = s.decode[i + 1];
    while (k < others.length && others[k] < a.start) k++;
    if (k < others.length && others[k] < b.start) continue;
    // The next step runs the same batch one token further; anything else (an idle engine between requests) is no period.
    if (b.rows !== a.rows || b.past !== a.past + 1) continue;
    out.push({ rows: a.rows, rowTokens: a.rows * (a.past + 1), ms: b.start - a.start });
  }
  return out;
}

/**
 * Every decode step's own time, from its start to whatever the loop did next
 * (the next step, a repack, a prefill). A gap longer than the loop's usual
 * turn after a step is an idle engine, not the step's: it is cut to that turn.
 */
export function stepTimes(s: EngineSteps): PeriodSample[] {
  const next = [...s.decode.map((d) => d.start), ...s.repacks.map((r) => r.start), ...s.prefills.map((p) => p.start)].sort((a, b) => a - b);
  const turns = s.decode
    .slice(0, -1)
    .map((d, i) => s.decode[i + 1].start - d.end)
    .filter((g) => g >= 0)
    .sort((a, b) => a - b);
  const turn = turns.length ? turns[turns.length >> 1] : 0;
  const out: PeriodSample[] = [];
  let k = 0;
  for (const d of s.decode) {
    while (k < next.length && next[k] <= d.start) k++;
    const until = k < next.length ? next[k] : d.end + turn;
    out.push({ rows: d.rows, rowTokens: d.rows * (d.past + 1), ms: Math.min(until, d.end + 2 * turn) - d.start });
  }
  return out;
}

/**
 * Each repack against the cache it copies: its rows × the padded length of
 * the next decode step (exact when that step runs the repacked batch; an
 * estimate when a prefill came first and grew it).
 */
export function repackSamples(s: EngineSteps): { rowTokens: number; ms: number }[] {
  const out: { rowTokens: number; ms: number }[] = [];
  let k = 0;
  for (const r of s.repacks) {
    while (k < s.decode.length && s.decode[k].start < r.end) k++;
    const next = s.decode[k];
    if (next) out.push({ rowTokens: r.rows * next.past, ms: r.end - r.start });
  }
  return out;
}
