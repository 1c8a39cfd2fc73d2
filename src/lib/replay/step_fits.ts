import { fitLine, median, nonNegativeFit, ratioSpread, spreadOf, variation } from '../stats/regression.js';
import { repackSamples, stepTimes } from './engine_steps.js';
import type { EngineSteps, PeriodSample } from './engine_steps.js';
import type { SimRequest, TimingModel } from './sim_types.js';

/** The fewest decode periods a step-level fit is made on; below it the per-request fit is used. */
export const MIN_FIT_STEPS = 50;

export type DecodeModels = Pick<TimingModel, 'decodeStep' | 'repack' | 'basis' | 'fittedSteps' | 'covered'>;

/** Levels 1-2: each request's decode loop against the batch it decoded in on average; repacks fold into the step. */
export function fitDecodeLoops(usable: readonly SimRequest[]): DecodeModels {
  // Each request's decode steps, against how many requests were decoding alongside it on average.
  // Prefill runs of other requests block decoding; their time is taken out first (as a union,
  // since requests prefilled together share one run), or the simulator would count it twice.
  const spans = usable.map((r) => ({ from: r.arrivalMs + r.ttftMs!, to: r.arrivalMs + r.e2eMs }));
  const prefills = [
    ...new Map(
      usable.map((r) => {
        const end = r.arrivalMs + r.ttftMs!;
        const start = end - r.stages.prefill_forward;
        return [`${start.toFixed(6)}`, { start, end }];
      }),
    ).values(),
  ].sort((a, b) => a.start - b.start);
  // How many requests were decoding, piece by piece: the sweep of every request's decode span.
  // Prefill runs are left out: no decode step runs while one does.
  const edges = [
    ...spans.flatMap(
      (sp) =>
        [
          [sp.from, 1, 0],
          [sp.to, -1, 0],
        ] as [number, number, number][],
    ),
    ...prefills.flatMap(
      (p) =>
        [
          [p.start, 0, 1],
          [p.end, 0, -1],
        ] as [number, number, number][],
    ),
  ].sort((a, b) => a[0] - b[0]);
  const segments: { from: number; to: number; n: number }[] = [];
  let n = 0;
  let inPrefill = 0;
  for (let k = 0; k < edges.length; k++) {
    n += edges[k][1];
    inPrefill += edges[k][2];
    const next = edges[k + 1];
    if (next && next[0] > edges[k][0] && n > 0 && inPrefill <= 0) segments.push({ from: edges[k][0], to: next[0], n });
  }
  const ys: number[] = [];
  const decoding: { from: number; to: number }[] = [];
  usable.forEach((r, i) => {
    if (r.outputTokens < 2) return;
    const { from, to } = spans[i];
    let blocked = 0;
    let covered = from;
    for (const p of prefills) {
      const a = Math.max(covered, p.start, from);
      const b = Math.min(p.end, to);
      if (b > a) blocked += b - a;
      covered = Math.max(covered, Math.min(p.end, to));
    }
    decoding.push({ from, to });
    ys.push(Math.max(0, r.stages.decode_loop - blocked) / (r.outputTokens - 1));
  });
  // Each request's batch size, averaged over its decode steps rather than its time: a piece at n
  // requests holds length / step(n) steps. The step time comes from the fit, so fit a few times.
  let decode = { intercept: 1, slope: 0 };
  let xs: number[] = [];
  for (let round = 0; round < 4 && ys.length; round++) {
    const step = (k: number): number => Math.max(1e-6, decode.intercept + decode.slope * k);
    xs = decoding.map(({ from, to }) => {
      let steps = 0;
      let weighted = 0;
      for (const sg of segments) {
        const len = Math.min(to, sg.to) - Math.max(from, sg.from);
        if (len <= 0) continue;
        steps += len / step(sg.n);
        weighted += (sg.n * len) / step(sg.n);
      }
      return steps > 0 ? weighted / steps : 1;
    });
    decode = fitLine(xs, ys);
  }
  if (!ys.length) decode = { intercept: 0, slope: 0 };
  return {
    decodeStep: { intercept: decode.intercept, perRequest: decode.slope, perRowToken: 0, spread: spreadOf(xs, ys, decode) },
    repack: { intercept: 0, perRowToken: 0 },
    basis: 'requests',
    fittedSteps: 0,
    covered: { rows: Math.ceil(xs.reduce((m, x) => Math.max(m, x), 0)), rowTokens: 0 },
  };
}

/**
 * Level 3: each decode period against rows and rows × cache length (least
 * squares on the per-row cost, terms that come out negative dropped,
 * outliers beyond four robust deviations trimmed once); each repack against
 * the cache it copies. Both are then scaled so that they add up to the time
 * the capture's steps and repacks took: a line through the typical step
 * misses the slow ones, and queueing follows the total.
 */
export function fitSteps(periods: readonly PeriodSample[], steps: EngineSteps): DecodeModels {
  const fit = (pts: readonly PeriodSample[]): number[] =>
    nonNegativeFit(
      pts.map((p) => [1, p.rows, p.rowTokens]),
      pts.map((p) => p.ms),
      pts.map((p) => 1 / (p.rows * p.rows)),
    ) ?? [median(pts.map((p) => p.ms)), 0, 0];
  const at = (b: readonly number[], p: PeriodSample): number => b[0] + b[1] * p.rows + b[2] * p.rowTokens;
  let beta = fit(periods);
  const residuals = periods.map((p) => p.ms - at(beta, p));
  const mad = median(residuals.map(Math.abs)) * 1.4826;
  const kept = periods.filter((_, i) => Math.abs(residuals[i]) <= 4 * mad);
  if (kept.length >= MIN_FIT_STEPS) beta = fit(kept);
  const all = stepTimes(steps);
  const scale = total(all, (p) => p.ms) / total(all, (p) => at(beta, p));
  if (Number.isFinite(scale) && scale > 0) beta = beta.map((b) => b * scale);
  const ratios = periods.map((p) => p.ms / at(beta, p)).sort((a, b) => a - b);
  const repacks = repackSamples(steps);
  let repack =
    repacks.length >= 2
      ? fitLine(
          repacks.map((r) => r.rowTokens),
          repacks.map((r) => r.ms),
        )
      : { intercept: 0, slope: 0 };
  const repackScale = total(repacks, (r) => r.ms) / total(repacks, (r) => repack.intercept + repack.slope * r.rowTokens);
  if (Number.isFinite(repackScale) && repackScale > 0) repack = { intercept: repack.intercept * repackScale, slope: repack.slope * repackScale };
  return {
    decodeStep: {
      intercept: beta[0],
      perRequest: beta[1],
      perRowToken: beta[2],
      spread: ratioSpread(ratios),
      variation: variation(ratios),
    },
    repack: { intercept: repack.intercept, perRowToken: repack.slope },
    basis: 'steps',
    fittedSteps: periods.length,
    // Reduced, not spread: a long profile has more steps than a call takes arguments.
    covered: all.reduce((c, p) => ({ rows: Math.max(c.rows, p.rows), rowTokens: Math.max(c.rowTokens, p.rowTokens) }), { rows: 0, rowTokens: 0 }),
  };
}

function total<T>(xs: readonly T[], f: (x: T) => number): number {
  let sum = 0;
  for (const x of xs) sum += f(x);
  return sum;
}
