import { tpotMs } from '../stats/distribution.js';
import { median } from '../stats/regression.js';
import { MIN_SAMPLES, mannWhitneyP } from '../stats/significance.js';
import type { RequestOutcome } from '../target/driver.js';

/** One figure's first half of the measured run against its second. */
export interface HalfComparison {
  figure: 'ttft' | 'tpot';
  firstMedianMs: number;
  secondMedianMs: number;
  /** Mann-Whitney two-sided p-value. */
  p: number;
  /** Whether the halves differ: significant (p < 0.01) and by more than a tenth of the first half's median. */
  differs: boolean;
}

/** Significance and size a difference needs before the report calls the run unsteady: rare by chance, large enough to matter. */
const P_LIMIT = 0.01;
const MIN_CHANGE = 0.1;

/**
 * Compares the first and second halves of a measured run (by when requests
 * were sent) on TTFT and TPOT. A cold target warming up shows as a slower
 * first half; a queue building past the target's capacity as a slower
 * second half. Null for a figure with too few samples on a side.
 */
export function compareHalves(outcomes: readonly RequestOutcome[]): HalfComparison[] {
  const ok = outcomes.filter((o) => o.error === null).sort((a, b) => a.sentAtMs - b.sentAtMs);
  const half = Math.floor(ok.length / 2);
  const out: HalfComparison[] = [];
  const figures: [HalfComparison['figure'], (o: RequestOutcome) => number | null][] = [
    ['ttft', (o) => o.ttftMs],
    ['tpot', (o) => tpotMs(o)],
  ];
  for (const [figure, pick] of figures) {
    const values = (xs: readonly RequestOutcome[]): number[] => xs.flatMap((o) => pick(o) ?? []);
    const a = values(ok.slice(0, half));
    const b = values(ok.slice(half));
    if (a.length < MIN_SAMPLES || b.length < MIN_SAMPLES) continue;
    const p = mannWhitneyP(a, b);
    const firstMedianMs = median(a);
    const secondMedianMs = median(b);
    const change = Math.abs(secondMedianMs - firstMedianMs) / Math.max(firstMedianMs, 1e-9);
    out.push({ figure, firstMedianMs, secondMedianMs, p, differs: p < P_LIMIT && change > MIN_CHANGE });
  }
  return out;
}
