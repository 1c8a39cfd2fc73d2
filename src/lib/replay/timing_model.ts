import { median } from '../stats/regression.js';
import type { SimRequest, TimingModel } from './sim_types.js';
import { SglError } from '../errors.js';
import { usableRid } from '../request_id.js';
import type { WorkloadRecord } from '../tracing/finished_request.js';
import { decodePeriods } from './engine_steps.js';
import type { EngineSteps } from './engine_steps.js';
import { fitPrefill } from './prefill_fit.js';
import { MIN_FIT_STEPS, fitDecodeLoops, fitSteps } from './step_fits.js';

export type { FitSpread, SimRequest, TimingModel } from './sim_types.js';

/** Fewer requests than this and the fit is rough; the simulator says so. */
export const MIN_FIT_REQUESTS = 50;

/** What the decode model says a step of `rows` rows costs, reading `rowTokens` (rows × (padded past + 1)) cached tokens. */
export const fittedStep = (m: TimingModel, rows: number, rowTokens: number): number =>
  m.decodeStep.intercept + m.decodeStep.perRequest * rows + m.decodeStep.perRowToken * rowTokens;

/** The same models with every prefill run's cost multiplied by `prefill` and every decode step's and repack's by `decode`. */
export function scaleCosts(model: TimingModel, prefill: number, decode: number): TimingModel {
  const { intercept, perToken, perTokenSquared } = model.prefill;
  const step = model.decodeStep;
  return {
    ...model,
    prefill: { ...model.prefill, intercept: intercept * prefill, perToken: perToken * prefill, perTokenSquared: perTokenSquared * prefill },
    decodeStep: { ...step, intercept: step.intercept * decode, perRequest: step.perRequest * decode, perRowToken: step.perRowToken * decode },
    repack: { intercept: model.repack.intercept * decode, perRowToken: model.repack.perRowToken * decode },
  };
}

/**
 * The same models with every prefill run and decode step at one end of its cost (fixed there, not drawn): the
 * end of the ratios the simulation draws from (variation) when it draws, else of the fit's residual spread.
 * The drawn ratios are the capture's scaled to a mean of 1, so with a skewed spread they reach past its raw
 * ends; a band at the raw ends could then miss the simulation it brackets. Repacks keep their cost.
 */
export function scaledModel(model: TimingModel, end: 'low' | 'high'): TimingModel {
  const at = (f: { spread: { low: number; high: number }; variation?: readonly number[] }): number => {
    const v = f.variation;
    if (!v?.length) return f.spread[end];
    let x = v[0];
    for (const r of v) x = end === 'low' ? Math.min(x, r) : Math.max(x, r);
    return x;
  };
  const scaled = scaleCosts(model, at(model.prefill), at(model.decodeStep));
  return {
    ...scaled,
    prefill: { ...scaled.prefill, variation: undefined },
    decodeStep: { ...scaled.decodeStep, variation: undefined },
    repack: model.repack,
  };
}

/** A captured request the models can be fitted on: it has prefill and decode timings and a first token. */
export const fittable = (r: SimRequest): boolean => r.stages.prefill_forward !== undefined && r.stages.decode_loop !== undefined && r.ttftMs !== null;

/** A capture's record as the simulator sees it. */
export const simRequest = (w: WorkloadRecord): SimRequest => ({
  id: usableRid(w.rid),
  arrivalMs: w.arrivalMs,
  inputTokens: w.inputTokens,
  outputTokens: w.outputTokens,
  cachedTokens: w.cachedTokens,
  ttftMs: w.ttftMs,
  e2eMs: w.e2eMs,
  stages: w.stages,
});

/**
 * Fits the models; needs a capture with stage timings (an sgl trace at level 1
 * or more). Given the engine's steps of a level-3 capture (engine_steps.ts),
 * decode steps and repacks are fitted step by step, against the cache length
 * too; otherwise each request's decode loop is fitted against its average batch.
 */
export function fitTimingModel(reqs: readonly SimRequest[], steps?: EngineSteps, rowByRow = false): TimingModel {
  const usable = reqs.filter(fittable);
  if (usable.length < 2)
    throw new SglError(
      '--simulate needs an sgl trace with stage timings (captured at trace level 1 or more) of at least two requests; public workload traces carry none.',
    );
  const scheduled = (r: SimRequest): number => (r.stages.queue_wait ?? 0) + (r.stages.prefill_prepare ?? 0) + r.stages.prefill_forward;
  const periods = steps ? decodePeriods(steps) : [];
  const byStep = periods.length >= MIN_FIT_STEPS;
  return {
    prefill: fitPrefill(usable, steps, rowByRow),
    ...(byStep ? fitSteps(periods, steps!) : fitDecodeLoops(usable)),
    fittedOn: usable.length,
    beforeQueueMs: Math.max(0, median(usable.map((r) => r.ttftMs! - scheduled(r)))),
    afterDecodeMs: Math.max(0, median(usable.map((r) => r.e2eMs - r.ttftMs! - r.stages.decode_loop))),
  };
}
