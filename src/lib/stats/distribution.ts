/**
 * Statistics every figure sgl prints is computed with, the same for bench,
 * replay, trace summary and the stage tables: pure functions over numbers.
 */
import { tQuantile } from './student_t.js';

export interface Distribution {
  mean: number;
  median: number;
  std: number;
  p90: number;
  p95: number;
  p99: number;
  /** Half-width of the 95% confidence interval of the mean (Student's t); NaN with fewer than two values. */
  ci95: number;
}

/** Linear-interpolated percentile of sorted values (numpy's default). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { mean: NaN, median: NaN, std: NaN, p90: NaN, p95: NaN, p99: NaN, ci95: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  // Population standard deviation, as numpy.std computes it in bench_serving.
  const std = Math.sqrt(sorted.reduce((a, v) => a + (v - mean) ** 2, 0) / sorted.length);
  const n = sorted.length;
  const ci95 = n < 2 ? NaN : (tQuantile(0.975, n - 1) * std * Math.sqrt(n / (n - 1))) / Math.sqrt(n);
  return { mean, median: percentile(sorted, 50), std, p90: percentile(sorted, 90), p95: percentile(sorted, 95), p99: percentile(sorted, 99), ci95 };
}

/** Time per output token after the first (TPOT), as bench_serving defines it; null when there is no second token or no first-token time. */
export function tpotMs(t: { ttftMs: number | null; e2eMs: number; outputTokens: number }): number | null {
  return t.ttftMs !== null && t.outputTokens > 1 ? (t.e2eMs - t.ttftMs) / (t.outputTokens - 1) : null;
}

export interface MeanCi {
  mean: number;
  /** Half-width of the 95% confidence interval of the mean; NaN with fewer than two values. */
  ci95: number;
}

/** Mean and the half-width of its 95% confidence interval, from Student's t with n − 1 degrees of freedom. */
export function meanCi(values: readonly number[]): MeanCi {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci95: NaN };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, ci95: (tQuantile(0.975, n - 1) * sd) / Math.sqrt(n) };
}
