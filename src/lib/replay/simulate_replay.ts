import { existsSync } from 'node:fs';
import type { BenchRun, RequestOutcome } from '../target/driver.js';
import { summarize } from '../benchmark/statistics.js';
import { ENGINE_DEFAULTS } from '../engine/engine_defaults.js';
import { loadModelSpec } from '../engine/model_dir.js';
import { SglError, WorkloadError } from '../errors.js';
import { TraceReader } from '../tracing/trace_file/reader.js';
import { capturedWorkload } from '../workload/dataset_files.js';
import { fitToContext } from '../workload/fit_context.js';
import type { ContextFit } from '../workload/fit_context.js';
import type { RequestSpec } from '../workload/request_spec.js';
import { decodePeriods, engineSteps } from './engine_steps.js';
import { compareTimings, withBand } from './fidelity.js';
import type { TimingSample } from './fidelity.js';
import { PROFILE_COMMAND, replayResult } from './replay_result.js';
import type { ReplayInput, ReplayOptions, ReplayResult } from './replay_result.js';
import { MIN_FIT_REQUESTS, fitTimingModel, scaleCosts, scaledModel, simRequest, simulate } from './simulator.js';
import { MIN_FIT_STEPS } from './step_fits.js';

/** Predicts the replay's timings from models fitted to the capture (or to --profile), without running the model. */
export function simulateReplay(o: ReplayOptions, input: ReplayInput): ReplayResult {
  const { format, header, captured } = input;
  // The timing models come from a capture of this model and engine: the file itself, or --profile.
  const profilePath = o.profile ?? (format === 'trace' ? o.file : null);
  if (!profilePath)
    throw new SglError(
      `--simulate of a ${format} trace needs --profile CAPTURE: an sgl trace of this model and engine whose stage timings fit the simulator's models. Make one with ${PROFILE_COMMAND}, with --request-rate and --random-input-len/--random-output-len like the workload's.`,
    );
  const profile = o.profile ? capturedWorkload(o.profile, Infinity) : null;
  const fitRecords = profile ? profile.records : input.records;
  const profileHeader = profile ? profile.header : header;
  // A level-3 capture holds every engine step: a second pass reads them for the step-level fit.
  const steps = profileHeader?.trace.level === 3 ? engineSteps(new TraceReader(profilePath).events()) : undefined;
  const kvLayout = (profileHeader?.engine as { kvLayout?: string } | undefined)?.kvLayout;
  const fitted = fitTimingModel(
    fitRecords.map(simRequest),
    steps,
    // gqa prefills its rows one at a time: a run costs its rows' own tokens, not the padded batch's.
    kvLayout === 'gqa',
  );
  const model = o.costScale ? scaleCosts(fitted, o.costScale.prefill, o.costScale.decode) : fitted;
  const profileEngine = (profileHeader?.engine ?? {}) as Record<string, number>;
  const limits = {
    maxRunningRequests: o.engine.maxRunningRequests ?? profileEngine.maxRunningRequests ?? ENGINE_DEFAULTS.maxRunningRequests,
    maxPrefillTokens: o.engine.maxPrefillTokens ?? profileEngine.maxPrefillTokens ?? ENGINE_DEFAULTS.maxPrefillTokens,
    // The KV budget the capture ran with, scaled by a --kv-cache-mb asked for instead.
    maxTotalTokens:
      profileEngine.maxTotalTokens === undefined
        ? undefined
        : Math.floor(profileEngine.maxTotalTokens * (o.engine.kvCacheMb && profileEngine.kvCacheMb ? o.engine.kvCacheMb / profileEngine.kvCacheMb : 1)),
    // A capture from before the header named its layout ran the dense one.
    chunkedPrefill: kvLayout !== undefined && kvLayout !== 'dense',
  };
  const warnings: string[] = [];
  let requests = input.workload.requests;
  let fit: ContextFit | null = null;
  if (format !== 'trace') {
    const dir = o.engine.modelPath ?? (profile?.header && existsSync(profile.header.model.dir) ? profile.header.model.dir : undefined);
    const spec = loadModelSpec(dir);
    if (profile?.header && spec.id !== profile.header.model.id)
      warnings.push(
        `The profile ran ${profile.header.model.id}; lengths are fitted to ${spec.id}'s context (${spec.contextLength} tokens). Pass --model-path with the profile's model.`,
      );
    ({ requests, fit } = fitToContext(requests, spec.contextLength, o.fitContext ?? 'scale', `${spec.id}'s context length`));
  }
  if (requests.length === 0) throw new WorkloadError(o.file, null, 'has no request that the model can hold; see --fit-context.');
  const simReqs = requests.map((r) => ({
    id: r.id,
    arrivalMs: r.arrivalMs ?? 0,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    ttftMs: null,
    e2eMs: 0,
    stages: {},
  }));
  const reach = { rows: 0, rowTokens: 0 };
  const predicted = simulate(simReqs, model, limits, 1, reach);
  // A line fitted on small batches says nothing of large ones (a decode step's cost per row can grow
  // several-fold once the batch's KV no longer fits the caches): past what the profile saw, say so.
  const beyond = [
    reach.rows > model.covered.rows * 1.1 ? `${reach.rows} running requests (the profile's largest decode step had ${model.covered.rows})` : '',
    model.covered.rowTokens && reach.rowTokens > model.covered.rowTokens * 1.1
      ? `${reach.rowTokens} cached tokens in a step (the profile's most: ${model.covered.rowTokens})`
      : '',
  ].filter(Boolean);
  if (beyond.length)
    warnings.push(
      `The simulation reached ${beyond.join(' and ')}; its step costs there are extrapolated from smaller batches and may be far off. Profile at a load that reaches them.`,
    );
  let fidelity = compareTimings(captured, predicted);
  if (captured.length) {
    // The band: the same simulation with every prefill and decode step at each end of its fit's residual spread.
    fidelity = withBand(
      fidelity,
      compareTimings(captured, simulate(simReqs, scaledModel(model, 'low'), limits)),
      compareTimings(captured, simulate(simReqs, scaledModel(model, 'high'), limits)),
    );
  }
  if (model.basis === 'requests')
    warnings.push(
      steps?.decode.length
        ? `${profilePath} has ${decodePeriods(steps).length} decode steps that follow one another with the same batch (no join, leave or prefill between them); a step-by-step fit needs ${MIN_FIT_STEPS}, so decode steps are fitted per request and cannot follow the cache length. Capture more requests, with outputs of more than a few tokens.`
        : `${profilePath} has no engine steps (it was captured at trace level ${profileHeader?.trace.level ?? '?'}${profileHeader?.trace.level === 3 ? ' without the scheduler and engine modules' : ''}), so decode steps are fitted per request and cannot follow the cache length; ${PROFILE_COMMAND} makes a profile fitted step by step.`,
    );
  if (model.fittedOn < MIN_FIT_REQUESTS)
    warnings.push(
      `The timing models are fitted on ${model.fittedOn} requests; with fewer than ${MIN_FIT_REQUESTS} the predictions are rough${captured.length ? ' (their bands show how rough)' : ''}. Capture more requests for a prediction to rely on.`,
    );
  const metrics = summarize(simulatedRun(requests, predicted));
  return replayResult(o, input, requests, {
    mode: 'simulate',
    warnings,
    fidelity,
    metrics,
    model,
    loaded: null,
    fit,
    schedule: null,
    profile: profilePath,
    replayed: predicted,
  });
}

/** A simulated run in the shape bench's statistics take: each request sent on schedule, its predicted times, its concurrency. */
function simulatedRun(requests: readonly RequestSpec[], predicted: readonly TimingSample[]): BenchRun {
  const edges: [number, number][] = [];
  let first = Infinity;
  let last = -Infinity;
  const outcomes: RequestOutcome[] = requests.map((r, i) => {
    const t = predicted[i];
    const at = r.arrivalMs ?? 0;
    first = Math.min(first, at);
    last = Math.max(last, at + t.e2eMs);
    edges.push([at, 1], [at + t.e2eMs, -1]);
    return {
      id: r.id,
      inputTokens: r.inputTokens,
      outputTokens: r.outputTokens,
      ttftMs: t.ttftMs,
      e2eMs: t.e2eMs,
      itlMs: [],
      sentAtMs: at,
      error: null,
      cachedTokens: null,
      serverTtftMs: null,
    };
  });
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let peak = 0;
  let area = 0;
  let prev = first;
  for (const [t, d] of edges) {
    area += running * (t - prev);
    prev = t;
    running += d;
    peak = Math.max(peak, running);
  }
  const durationMs = Math.max(1e-9, last - first);
  return { outcomes, durationMs, peakConcurrency: peak, meanConcurrency: area / durationMs };
}
