/**
 * Verdicts: whether a difference sgl prints is larger than its noise, at 95%.
 * Two kinds of comparison occur: paired repeats summarized as a ratio with a
 * confidence interval (trace levels), and two independent samples of
 * per-request times (two captures, a capture and its replay).
 */
import { percentile } from './distribution.js';
import type { MeanCi } from './distribution.js';
import { normalCdf } from './student_t.js';

export interface Verdict {
  /** The relative change (0.05 is 5% more). */
  change: number;
  /** True when the change is significant at 95%; null when there are too few samples to tell. */
  significant: boolean | null;
  /** Two-sided p-value, where a test gave one. */
  p: number | null;
}

/** A ratio's verdict: significant when its 95% confidence interval leaves out 1. */
export function ratioVerdict(r: MeanCi): Verdict {
  return { change: r.mean - 1, significant: Number.isFinite(r.ci95) ? Math.abs(r.mean - 1) > r.ci95 : null, p: null };
}

/** Fewer per side and the rank test cannot reach 5% however the samples differ. */
export const MIN_SAMPLES = 4;

/**
 * The Mann-Whitney U test (two-sided, normal approximation with the tie and
 * continuity corrections): do values of `b` tend to be larger or smaller
 * than values of `a`? It assumes no distribution, so a few slow outliers do
 * not decide it. Returns the two-sided p-value; NaN when a side is empty.
 */
export function mannWhitneyP(a: readonly number[], b: readonly number[]): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return NaN;
  const all = [...a.map((v) => ({ v, fromA: true })), ...b.map((v) => ({ v, fromA: false }))].sort((x, y) => x.v - y.v);
  const n = all.length;
  let rankSumA = 0;
  let ties = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].fromA) rankSumA += rank;
    const t = j - i + 1;
    ties += t * t * t - t;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (!(sigma > 0)) return 1;
  const z = Math.max(0, Math.abs(u - mu) - 0.5) / sigma;
  return Math.min(1, 2 * (1 - normalCdf(z)));
}

/** Two independent samples: the change of the median from `a` to `b`, and whether the rank test calls it significant. */
export function sampleVerdict(a: readonly number[], b: readonly number[]): Verdict {
  const median = (xs: readonly number[]): number =>
    percentile(
      [...xs].sort((x, y) => x - y),
      50,
    );
  const ma = median(a);
  const change = (median(b) - ma) / ma;
  if (a.length < MIN_SAMPLES || b.length < MIN_SAMPLES) return { change, significant: null, p: null };
  const p = mannWhitneyP(a, b);
  return { change, significant: p < 0.05, p };
}
