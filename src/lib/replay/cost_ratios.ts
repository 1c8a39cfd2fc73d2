import { median } from '../stats/regression.js';
import { TraceReader } from '../tracing/trace_file/reader.js';
import { capturedWorkload } from '../workload/dataset_files.js';
import { decodePeriods, engineSteps } from './engine_steps.js';
import { fittedPrefill, prefillRuns } from './prefill_fit.js';
import type { TimingModel } from './sim_types.js';
import { fittable, fittedStep, simRequest } from './timing_model.js';

/** A capture's costs against a model's: medians of measured ÷ fitted, and how many runs and steps each rests on. */
export interface CostRatios {
  prefill: number;
  decode: number;
  prefillRuns: number;
  decodePeriods: number;
}

/**
 * How a level-3 capture's costs compare with a fitted model's where the
 * model saw the same work: the median of measured ÷ fitted over the
 * capture's one-row prefill runs and over its decode periods no larger (in
 * rows and cached tokens) than the largest step the model was fitted on.
 * A fit is scaled to its capture's total, so its own capture's medians are
 * below 1: a capture's ratios divided by the profile's own say how much
 * slower (above 1) the machine ran the capture than the profile, and
 * a held-out check can then tell the simulator's errors from the machine's
 * drift (`sgl replay --simulate --cost-scale`), without showing the
 * simulator anything of the batches it has to extrapolate to.
 */
export function costRatios(model: TimingModel, capturePath: string): CostRatios {
  const usable = capturedWorkload(capturePath, Infinity).records.map(simRequest).filter(fittable);
  const steps = engineSteps(new TraceReader(capturePath).events());
  const runs = prefillRuns(usable, steps).filter((p) => p.rows === 1);
  const periods = decodePeriods(steps).filter((p) => p.rows <= model.covered.rows && p.rowTokens <= model.covered.rowTokens);
  const ratio = (measured: number, fitted: number): number[] => (fitted > 0 ? [measured / fitted] : []);
  const prefill = runs.flatMap((p) => ratio(p.ms, fittedPrefill(model.prefill, p)));
  const decode = periods.flatMap((p) => ratio(p.ms, fittedStep(model, p.rows, p.rowTokens)));
  return {
    prefill: prefill.length ? median(prefill) : 1,
    decode: decode.length ? median(decode) : 1,
    prefillRuns: prefill.length,
    decodePeriods: decode.length,
  };
}
