import type { TraceLevel } from '../tracing/trace_config.js';
import type { BenchMetrics } from './statistics.js';
import { meanCi } from '../stats/distribution.js';

export interface LevelRun {
  metrics: BenchMetrics;
  /** Spans recorded per request (null when the target cannot tell, e.g. a remote server). */
  spansPerRequest: number | null;
}

export interface LevelRow {
  level: TraceLevel;
  runs: LevelRun[];
  outputThroughput: { mean: number; ci95: number };
  /** Ratios to level 0, per repeat, then mean ± 95% CI. */
  throughputRatio: { mean: number; ci95: number };
  ttftRatio: { mean: number; ci95: number };
  tpotRatio: { mean: number; ci95: number };
  e2eRatio: { mean: number; ci95: number };
  spansPerRequest: number | null;
}

/**
 * Runs the same workload at each trace level, `repeats` rounds, the order of
 * levels rotated every round so drift on a noisy machine hits every level
 * alike. `runOnce` starts from a fresh engine (or sets a server's level).
 */
export async function compareTraceLevels(levels: readonly TraceLevel[], repeats: number, runOnce: (level: TraceLevel, repeat: number) => Promise<LevelRun>): Promise<LevelRow[]> {
  const runs = new Map<TraceLevel, LevelRun[]>(levels.map((l) => [l, []]));
  for (let r = 0; r < repeats; r++) {
    for (let k = 0; k < levels.length; k++) {
      const level = levels[(r + k) % levels.length];
      runs.get(level)!.push(await runOnce(level, r));
    }
  }
  const base = runs.get(levels.includes(0) ? 0 : levels[0])!;
  const ratio = (own: LevelRun[], pick: (m: BenchMetrics) => number): { mean: number; ci95: number } =>
    meanCi(own.map((run, i) => pick(run.metrics) / pick(base[i].metrics)));
  return levels.map((level) => {
    const own = runs.get(level)!;
    const spans = own.map((r) => r.spansPerRequest);
    return {
      level,
      runs: own,
      outputThroughput: meanCi(own.map((r) => r.metrics.output_throughput)),
      throughputRatio: ratio(own, (m) => m.output_throughput),
      ttftRatio: ratio(own, (m) => m.ttft_ms.mean),
      tpotRatio: ratio(own, (m) => m.tpot_ms.mean),
      e2eRatio: ratio(own, (m) => m.e2e_latency_ms.mean),
      spansPerRequest: spans.every((s) => s !== null) ? (spans as number[]).reduce((a, b) => a + b, 0) / spans.length : null,
    };
  });
}
