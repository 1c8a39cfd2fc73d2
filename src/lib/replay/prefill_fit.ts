import { usableRid } from '../request_id.js';
import { fitLine, median, nonNegativeFit, ratioSpread, variation } from '../stats/regression.js';
import type { EngineSteps } from './engine_steps.js';
import type { SimRequest, TimingModel } from './sim_types.js';

/** A prefill run: its rows, the most tokens one of them ran (the batch is padded to it), the tokens and their squares summed over its rows, its time. */
export interface PrefillPoint {
  rows: number;
  widest: number;
  tokens: number;
  squares: number;
  ms: number;
}

/**
 * The prefill model's terms for a run: a fixed cost, the tokens it ran, and the attention over them. Padded
 * (slots, dense) those are rows × widest and rows × widest²; row by row (gqa), each row's own, summed.
 */
const prefillTerms = (p: PrefillPoint, rowByRow: boolean): number[] =>
  rowByRow ? [1, p.tokens, p.squares] : [1, p.rows * p.widest, p.rows * p.widest * p.widest];

/** A run's point from its rows' uncached tokens. */
function point(tokens: readonly number[], ms: number): PrefillPoint {
  let widest = 0;
  let sum = 0;
  let squares = 0;
  for (const t of tokens) {
    widest = Math.max(widest, t);
    sum += t;
    squares += t * t;
  }
  return { rows: tokens.length, widest, tokens: sum, squares, ms };
}

/**
 * Prefill runs: one point per run against its padded tokens and the
 * attention over them (each token attends to those before it, so a long
 * prompt costs more per token than a short one); least squares, so that
 * the fitted total of the runs kept is their measured total (queueing follows the
 * total), terms that come out negative dropped, runs beyond four
 * robust deviations (of measured ÷ fitted) trimmed once. From a level-3
 * capture a run is its prefill_forward less the decode steps that ran
 * between its chunks; otherwise runs are found from the requests' stages.
 */
export function fitPrefill(usable: readonly SimRequest[], steps?: EngineSteps, rowByRow = false): TimingModel['prefill'] {
  const points = prefillRuns(usable, steps);
  const at = (beta: readonly number[], p: PrefillPoint): number => {
    const x = prefillTerms(p, rowByRow);
    return beta[0] * x[0] + beta[1] * x[1] + beta[2] * x[2];
  };
  const fit = (pts: readonly PrefillPoint[]): number[] | null =>
    pts.length < 3
      ? null
      : nonNegativeFit(
          pts.map((p) => prefillTerms(p, rowByRow)),
          pts.map((p) => p.ms),
          pts.map(() => 1),
        );
  let beta = fit(points);
  if (beta) {
    const logRatio = (p: PrefillPoint): number => Math.log(Math.max(1e-9, p.ms) / Math.max(1e-9, at(beta!, p)));
    const logs = points.map(logRatio);
    const mid = median(logs);
    const mad = median(logs.map((l) => Math.abs(l - mid))) * 1.4826;
    const kept = points.filter((_, i) => Math.abs(logs[i] - mid) <= 4 * mad);
    if (kept.length >= 10 && kept.length < points.length) beta = fit(kept) ?? beta;
  }
  if (!beta) {
    // Too few runs, or none that a non-negative fit holds: the line through the typical run.
    const line = fitLine(
      points.map((p) => prefillTerms(p, rowByRow)[1]),
      points.map((p) => p.ms),
    );
    beta = [line.intercept, line.slope, 0];
  }
  const ratios = points
    .flatMap((p) => {
      const fitted = at(beta!, p);
      return fitted > 0 ? [p.ms / fitted] : [];
    })
    .sort((a, b) => a - b);
  return {
    intercept: beta[0],
    perToken: beta[1],
    perTokenSquared: beta[2],
    spread: ratioSpread(ratios),
    variation: variation(ratios),
    ...(rowByRow ? { rowByRow } : {}),
  };
}

/** A capture's prefill runs: from its engine steps when it has them (level 3), else from its requests' stages. */
export const prefillRuns = (usable: readonly SimRequest[], steps?: EngineSteps): PrefillPoint[] =>
  steps?.prefillRuns.length ? runsFromSteps(usable, steps) : runsFromStages(usable);

/** What a fitted prefill model says a run costs. */
export function fittedPrefill(m: TimingModel['prefill'], p: PrefillPoint): number {
  const x = prefillTerms(p, m.rowByRow ?? false);
  return m.intercept * x[0] + m.perToken * x[1] + m.perTokenSquared * x[2];
}

/**
 * Runs from the requests' stages: requests prefilled together carry the same prefill_forward to the nanosecond
 * and reach their first token close together (a capture marks the first token at delivery, so not at the same instant).
 */
function runsFromStages(usable: readonly SimRequest[]): PrefillPoint[] {
  const byRun = usable
    .map((r) => ({
      ms: r.stages.prefill_forward,
      end: r.arrivalMs + r.ttftMs!,
      input: r.inputTokens - (r.cachedTokens ?? 0),
      prepare: r.stages.prefill_prepare ?? 0,
    }))
    .sort((a, b) => a.ms - b.ms || a.end - b.end);
  const runs: { inputs: number[]; ms: number; forward: number; end: number }[] = [];
  for (const r of byRun) {
    const last = runs[runs.length - 1];
    // Two runs of the same cost end at least that cost apart (one after the other).
    if (last && Math.abs(last.forward - r.ms) < 1e-6 && Math.abs(r.end - last.end) < r.ms / 2) last.inputs.push(r.input);
    else runs.push({ inputs: [r.input], ms: r.ms + r.prepare, forward: r.ms, end: r.end });
  }
  return runs.map((r) => point(r.inputs, r.ms));
}

/** Runs from a level-3 capture's prefill_forward slices, less the gaps between their chunks (decode steps of the running rows). */
function runsFromSteps(usable: readonly SimRequest[], steps: EngineSteps): PrefillPoint[] {
  const byId = new Map(usable.map((r) => [r.id, r]));
  const chunks = steps.prefills;
  const out: PrefillPoint[] = [];
  let k = 0;
  for (const run of steps.prefillRuns) {
    const reqs = run.rids.map((rid) => byId.get(usableRid(rid)));
    while (k < chunks.length && chunks[k].start < run.start - 1e-3) k++;
    let gaps = 0;
    for (let j = k; j + 1 < chunks.length && chunks[j + 1].start <= run.end; j++) gaps += Math.max(0, chunks[j + 1].start - chunks[j].end);
    if (reqs.some((r) => !r)) continue;
    let prepare = 0;
    for (const r of reqs) prepare = Math.max(prepare, r!.stages.prefill_prepare ?? 0);
    out.push(
      point(
        reqs.map((r) => r!.inputTokens - (r!.cachedTokens ?? 0)),
        run.end - run.start - gaps + prepare,
      ),
    );
  }
  return out;
}
