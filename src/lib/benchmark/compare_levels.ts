import type { TraceLevel } from '../tracing/trace_config.js';
import type { BenchMetrics } from './statistics.js';
import { meanCi } from '../stats/distribution.js';
import type { MeanCi } from '../stats/distribution.js';
import { ratioVerdict } from '../stats/significance.js';
import type { Verdict } from '../stats/significance.js';

export interface LevelRun {
  metrics: BenchMetrics;
  /** Spans recorded per request (null when the target cannot tell, e.g. a remote server). */
  spansPerRequest: number | null;
}

/** The four figures compared, each a ratio to the base level. */
export type Figure = 'throughput' | 'ttft' | 'tpot' | 'e2e';
const PICK: Record<Figure, (m: BenchMetrics) => number> = {
  throughput: (m) => m.output_throughput,
  ttft: (m) => m.ttft_ms.mean,
  tpot: (m) => m.tpot_ms.mean,
  e2e: (m) => m.e2e_latency_ms.mean,
};

export interface LevelRow {
  level: TraceLevel;
  runs: LevelRun[];
  outputThroughput: MeanCi;
  /** Ratios to the base level, per round, then mean ± 95% CI. */
  throughputRatio: MeanCi;
  ttftRatio: MeanCi;
  tpotRatio: MeanCi;
  e2eRatio: MeanCi;
  /** Whether each ratio differs from 1 at 95%; null for the base level itself. */
  verdicts: Record<Figure, Verdict> | null;
  spansPerRequest: number | null;
}

export interface CompareOptions {
  levels: readonly TraceLevel[];
  /** Rounds to run; with a target, the least to run. */
  repeats: number;
  /** Keep adding rounds until every level's throughput-ratio CI half-width is under this (0.02 is ±2%); null runs `repeats` rounds. */
  targetCi: number | null;
  /** With a target: no round starts that would, at the mean round time so far, end past this many ms. */
  budgetMs: number;
  /** The clock the budget is kept by (performance.now unless a test brings its own). */
  now?: () => number;
}

export interface LevelComparison {
  /** The base level first, then the others in the order given. */
  rows: LevelRow[];
  rounds: number;
  elapsedMs: number;
  /** The widest 95% half-width among the throughput ratios at the end (0 when only the base level ran). */
  widestCi: number;
  /** With a target: reached, or inconclusive because the budget ended first. */
  target: { ci: number; reached: boolean; budgetMs: number } | null;
}

/** The level the others are compared with: 0 when it runs, else the first given. */
export function baseLevel(levels: readonly TraceLevel[]): TraceLevel {
  return levels.includes(0) ? 0 : levels[0];
}

/**
 * Runs the same workload at each trace level, round after round, the order
 * of levels rotated every round so drift on a noisy machine hits every level
 * alike. Each figure is a ratio to the base level (0 when compared) within
 * the round, so slow drift cancels. `runOnce` starts from a fresh engine
 * (or sets a server's level).
 */
export async function compareTraceLevels(o: CompareOptions, runOnce: (level: TraceLevel, round: number) => Promise<LevelRun>): Promise<LevelComparison> {
  const base = baseLevel(o.levels);
  const order = [base, ...o.levels.filter((l) => l !== base)];
  const runs = new Map<TraceLevel, LevelRun[]>(order.map((l) => [l, []]));
  const now = o.now ?? (() => performance.now());
  const started = now();
  const minRounds = Math.max(o.targetCi === null ? 1 : 2, o.repeats);
  let rounds = 0;
  for (;;) {
    const elapsed = now() - started;
    if (rounds >= minRounds) {
      if (o.targetCi === null || widestCi(rows(order, runs, base)) < o.targetCi) break;
      if (elapsed + elapsed / rounds > o.budgetMs) break;
    }
    for (let k = 0; k < order.length; k++) {
      const level = order[(rounds + k) % order.length];
      runs.get(level)!.push(await runOnce(level, rounds));
    }
    rounds++;
  }
  const result = rows(order, runs, base);
  const widest = widestCi(result);
  return {
    rows: result,
    rounds,
    elapsedMs: now() - started,
    widestCi: widest,
    target: o.targetCi === null ? null : { ci: o.targetCi, reached: widest < o.targetCi, budgetMs: o.budgetMs },
  };
}

/** The widest 95% half-width among the throughput ratios; 0 when only the base level runs. */
function widestCi(rows: readonly LevelRow[]): number {
  return rows.reduce((w, r) => (r.verdicts === null ? w : Math.max(w, Number.isFinite(r.throughputRatio.ci95) ? r.throughputRatio.ci95 : Infinity)), 0);
}

function rows(order: readonly TraceLevel[], runs: ReadonlyMap<TraceLevel, LevelRun[]>, baseLevel: TraceLevel): LevelRow[] {
  const base = runs.get(baseLevel)!;
  return order.map((level) => {
    const own = runs.get(level)!;
    const ratio = (figure: Figure): MeanCi => meanCi(own.map((run, i) => PICK[figure](run.metrics) / PICK[figure](base[i].metrics)));
    const r = { throughput: ratio('throughput'), ttft: ratio('ttft'), tpot: ratio('tpot'), e2e: ratio('e2e') };
    const spans = own.map((x) => x.spansPerRequest);
    return {
      level,
      runs: own,
      outputThroughput: meanCi(own.map((x) => x.metrics.output_throughput)),
      throughputRatio: r.throughput,
      ttftRatio: r.ttft,
      tpotRatio: r.tpot,
      e2eRatio: r.e2e,
      verdicts:
        level === baseLevel
          ? null
          : { throughput: ratioVerdict(r.throughput), ttft: ratioVerdict(r.ttft), tpot: ratioVerdict(r.tpot), e2e: ratioVerdict(r.e2e) },
      spansPerRequest: spans.every((s) => s !== null) ? (spans as number[]).reduce((a, b) => a + b, 0) / spans.length : null,
    };
  });
}
