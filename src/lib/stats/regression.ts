import { percentile } from './distribution.js';

/** A fitted line. */
export interface Line {
  intercept: number;
  slope: number;
}

/** How far measurements fall from a fitted line: the 2.5th and 97.5th percentiles of measured ÷ fitted. */
export interface Spread {
  low: number;
  high: number;
}

/**
 * Theil–Sen: the median of pairwise slopes and the median intercept. Robust
 * to the outliers captures are full of (first runs of a new shape, GC
 * pauses), which would otherwise set the line for everyone.
 */
export function fitLine(xs: number[], ys: number[]): Line {
  const step = Math.max(1, Math.floor(xs.length / 300));
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i += step) {
    for (let j = i + step; j < xs.length; j += step) if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
  }
  const slope = slopes.length
    ? Math.max(
        0,
        percentile(
          slopes.sort((a, b) => a - b),
          50,
        ),
      )
    : 0;
  const intercept = percentile(
    ys.map((y, i) => y - slope * xs[i]).sort((a, b) => a - b),
    50,
  );
  return { intercept: Math.max(0, intercept), slope };
}

export const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** The residual spread of a fitted line, as ratios of measured to fitted. */
export function spreadOf(xs: readonly number[], ys: readonly number[], line: Line): Spread {
  const ratios = xs
    .flatMap((x, i) => {
      const fitted = line.intercept + line.slope * x;
      return fitted > 0 ? [ys[i] / fitted] : [];
    })
    .sort((a, b) => a - b);
  return ratioSpread(ratios);
}

/** The range that holds 95% of sorted measured ÷ fitted ratios (none: ×1 both ends). */
export function ratioSpread(sortedRatios: readonly number[]): Spread {
  return sortedRatios.length ? { low: percentile(sortedRatios, 2.5), high: percentile(sortedRatios, 97.5) } : { low: 1, high: 1 };
}

/** Weighted least squares by the normal equations; null when they are singular. */
export function leastSquares(rows: readonly number[][], ys: readonly number[], weights: readonly number[]): number[] | null {
  const k = rows[0]?.length ?? 0;
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  rows.forEach((x, i) => {
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) a[r][c] += weights[i] * x[r] * x[c];
      a[r][k] += weights[i] * x[r] * ys[i];
    }
  });
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    if (Math.abs(a[pivot][c]) < 1e-12) return null;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j <= k; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row, i) => row[k] / row[i]);
}

/**
 * Weighted least squares with no coefficient below zero, for a few columns
 * (the first the intercept, always fitted): of the fits on each subset of
 * the other columns, the one with the least weighted squared error among
 * those with no negative coefficient; columns left out get zero. Null when
 * no subset gives one (the intercept itself comes out negative).
 */
export function nonNegativeFit(rows: readonly number[][], ys: readonly number[], weights: readonly number[]): number[] | null {
  const k = rows[0]?.length ?? 0;
  // Columns scaled to at most 1, so that the normal equations of a column and its square stay well conditioned.
  const scale = Array.from({ length: k }, (_, c) => rows.reduce((m, x) => Math.max(m, Math.abs(x[c])), 0) || 1);
  let best: { beta: number[]; error: number } | null = null;
  for (let mask = 0; mask < 1 << (k - 1); mask++) {
    const used = [0, ...Array.from({ length: k - 1 }, (_, c) => c + 1).filter((c) => mask & (1 << (c - 1)))];
    const beta = leastSquares(
      rows.map((x) => used.map((c) => x[c] / scale[c])),
      ys,
      weights,
    );
    if (!beta || beta.some((b) => b < 0)) continue;
    const full = new Array<number>(k).fill(0);
    used.forEach((c, i) => (full[c] = beta[i] / scale[c]));
    let error = 0;
    rows.forEach((x, i) => {
      let fitted = 0;
      for (let c = 0; c < k; c++) fitted += full[c] * x[c];
      error += weights[i] * (ys[i] - fitted) ** 2;
    });
    if (!best || error < best.error) best = { beta: full, error };
  }
  return best?.beta ?? null;
}

/**
 * `n` evenly spaced quantiles of sorted measured ÷ fitted ratios, scaled to
 * a mean of 1: the variation a simulation draws each cost from, so that a
 * queue sees costs that vary as the captured ones did, their total kept.
 */
export function variation(sortedRatios: readonly number[], n = 40): number[] {
  if (!sortedRatios.length) return [1];
  const q = Array.from({ length: n }, (_, i) => percentile(sortedRatios, ((i + 0.5) / n) * 100));
  const mean = q.reduce((a, b) => a + b, 0) / n;
  return mean > 0 ? q.map((x) => x / mean) : [1];
}
