import { describe, expect, it } from 'vitest';
import { compareTraceLevels } from '../../src/lib/benchmark/compare_levels.js';
import type { LevelRun } from '../../src/lib/benchmark/compare_levels.js';
import type { BenchMetrics } from '../../src/lib/benchmark/statistics.js';
import { distribution, meanCi } from '../../src/lib/stats/distribution.js';
import { Rng } from '../../src/lib/stats/rng.js';
import type { TraceLevel } from '../../src/lib/tracing/trace_config.js';
import { mannWhitneyP, ratioVerdict, sampleVerdict } from '../../src/lib/stats/significance.js';
import { normalQuantile, tCdf, tQuantile } from '../../src/lib/stats/student_t.js';

// Published two-sided critical values of Student's t (one-sided 0.95, 0.975, 0.995), df 1..30, 60, 120, ∞.
const TABLE: [number, number, number, number][] = [
  [1, 6.314, 12.706, 63.657],
  [2, 2.92, 4.303, 9.925],
  [3, 2.353, 3.182, 5.841],
  [4, 2.132, 2.776, 4.604],
  [5, 2.015, 2.571, 4.032],
  [6, 1.943, 2.447, 3.707],
  [7, 1.895, 2.365, 3.499],
  [8, 1.86, 2.306, 3.355],
  [9, 1.833, 2.262, 3.25],
  [10, 1.812, 2.228, 3.169],
  [11, 1.796, 2.201, 3.106],
  [12, 1.782, 2.179, 3.055],
  [13, 1.771, 2.16, 3.012],
  [14, 1.761, 2.145, 2.977],
  [15, 1.753, 2.131, 2.947],
  [16, 1.746, 2.12, 2.921],
  [17, 1.74, 2.11, 2.898],
  [18, 1.734, 2.101, 2.878],
  [19, 1.729, 2.093, 2.861],
  [20, 1.725, 2.086, 2.845],
  [21, 1.721, 2.08, 2.831],
  [22, 1.717, 2.074, 2.819],
  [23, 1.714, 2.069, 2.807],
  [24, 1.711, 2.064, 2.797],
  [25, 1.708, 2.06, 2.787],
  [26, 1.706, 2.056, 2.779],
  [27, 1.703, 2.052, 2.771],
  [28, 1.701, 2.048, 2.763],
  [29, 1.699, 2.045, 2.756],
  [30, 1.697, 2.042, 2.75],
  [60, 1.671, 2.0, 2.66],
  [120, 1.658, 1.98, 2.617],
  [Infinity, 1.645, 1.96, 2.576],
];

describe("Student's t", () => {
  it('matches the published table to 3 decimals for df 1..30, 60, 120 and ∞', () => {
    for (const [df, q95, q975, q995] of TABLE) {
      expect(Math.abs(tQuantile(0.95, df) - q95), `df ${df}, 0.95`).toBeLessThanOrEqual(0.0005);
      expect(Math.abs(tQuantile(0.975, df) - q975), `df ${df}, 0.975`).toBeLessThanOrEqual(0.0005);
      expect(Math.abs(tQuantile(0.995, df) - q995), `df ${df}, 0.995`).toBeLessThanOrEqual(0.0005);
    }
  });

  it('is symmetric, inverts its CDF, and tends to the normal', () => {
    for (const df of [3, 7.5, 40, 1000]) {
      for (const p of [0.001, 0.1, 0.5, 0.8, 0.999]) {
        expect(tQuantile(p, df)).toBeCloseTo(-tQuantile(1 - p, df), 9);
        expect(tCdf(tQuantile(p, df), df)).toBeCloseTo(p, 9);
      }
    }
    expect(tQuantile(0.975, 1e6)).toBeCloseTo(normalQuantile(0.975), 4);
    expect(normalQuantile(0.5)).toBe(0);
  });

  it('makes 95% intervals that use the exact quantile past 9 degrees of freedom', () => {
    const values = Array.from({ length: 21 }, (_, i) => i); // sd of 0..20 is sqrt(38.5)
    const { mean, ci95 } = meanCi(values);
    expect(mean).toBe(10);
    expect(ci95).toBeCloseTo((2.086 * Math.sqrt(38.5)) / Math.sqrt(21), 3);
  });
});

describe('verdicts', () => {
  it('calls a ratio significant only when its interval leaves out 1', () => {
    expect(ratioVerdict({ mean: 0.95, ci95: 0.02 })).toMatchObject({ significant: true });
    expect(ratioVerdict({ mean: 0.99, ci95: 0.02 })).toMatchObject({ significant: false });
    expect(ratioVerdict({ mean: 1.1, ci95: NaN })).toMatchObject({ significant: null });
  });

  it('gives the rank test p-values a statistics package gives', () => {
    // scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method='asymptotic'), scipy 1.17: ties and continuity corrected.
    const a = Array.from({ length: 10 }, (_, i) => i + 1);
    const b = Array.from({ length: 10 }, (_, i) => i + 6);
    expect(mannWhitneyP(a, b)).toBeCloseTo(0.0050754, 6);
    expect(mannWhitneyP([1, 2, 3, 4, 5, 6, 7, 8], [2.5, 3.5, 9, 10, 11, 12, 13, 1.5])).toBeCloseTo(0.156254, 6);
    expect(mannWhitneyP(a, a)).toBeCloseTo(1, 6);
    expect(sampleVerdict(a, b)).toMatchObject({ significant: true, change: 5 / 5.5 }); // medians 5.5 → 10.5
    expect(sampleVerdict([1, 2, 3], [7, 8, 9])).toMatchObject({ significant: null });
    // Same values in another order: no difference, whatever the outliers.
    expect(sampleVerdict([5, 6, 7, 8, 100], [100, 8, 7, 6, 5]).significant).toBe(false);
  });
});

describe('--compare-trace-levels rounds', () => {
  const metrics = (throughput: number): BenchMetrics => {
    const d = distribution([10]);
    return { output_throughput: throughput, ttft_ms: d, tpot_ms: d, e2e_latency_ms: d } as unknown as BenchMetrics;
  };
  /** Level 3 costs 5% of throughput; every run has ±4% of seeded noise. */
  const fake =
    (rng: Rng) =>
    async (level: TraceLevel): Promise<LevelRun> => ({
      metrics: metrics((level === 3 ? 950 : 1000) * (1 + (rng.next() - 0.5) * 0.08)),
      spansPerRequest: null,
    });

  it('adds rounds until every throughput ratio is within the target, and says the difference is real', async () => {
    let t = 0;
    const r = await compareTraceLevels({ levels: [0, 3], repeats: 3, targetCi: 0.01, budgetMs: 1e9, now: () => (t += 1000) }, fake(new Rng(7)));
    expect(r.target).toMatchObject({ reached: true });
    expect(r.rounds).toBeGreaterThan(3);
    const level3 = r.rows.find((x) => x.level === 3)!;
    expect(level3.throughputRatio.ci95).toBeLessThan(0.01);
    expect(level3.verdicts!.throughput.significant).toBe(true);
    expect(level3.verdicts!.throughput.change).toBeCloseTo(-0.05, 1);
    expect(level3.verdicts!.ttft.significant).toBe(false);
    expect(r.rows[0].verdicts).toBeNull();
  });

  it('stops when the budget would run out and reports the comparison inconclusive', async () => {
    let t = 0;
    // Every call to the clock is a second later; a round of two runs takes about that long, so 10 s allow a handful.
    const r = await compareTraceLevels({ levels: [0, 3], repeats: 3, targetCi: 0.001, budgetMs: 10_000, now: () => (t += 1000) }, fake(new Rng(7)));
    expect(r.target).toMatchObject({ reached: false, ci: 0.001 });
    expect(r.rounds).toBeGreaterThanOrEqual(3);
    expect(r.rounds).toBeLessThan(10);
    expect(r.widestCi).toBeGreaterThan(0.001);
  });

  it('runs exactly --repeats rounds without a target', async () => {
    const r = await compareTraceLevels({ levels: [0, 1, 3], repeats: 4, targetCi: null, budgetMs: 0 }, fake(new Rng(1)));
    expect(r.rounds).toBe(4);
    expect(r.target).toBeNull();
    for (const row of r.rows) expect(row.runs).toHaveLength(4);
  });
});
