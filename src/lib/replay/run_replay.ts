import { existsSync } from 'node:fs';
import { BenchDriver } from '../load/driver.js';
import { summarize } from '../bench/statistics.js';
import type { BenchMetrics } from '../bench/statistics.js';
import { EngineTarget, HttpTarget } from '../load/targets.js';
import type { Endpoint } from '../load/targets.js';
import { ENGINE_DEFAULTS } from '../engine/engine.js';
import type { EngineOptions } from '../engine/engine.js';
import { SglError, WorkloadError } from '../errors.js';
import { loadModelSpec } from '../engine/model_dir.js';
import { TextTokenizer } from '../engine/tokenizer.js';
import type { TraceModule } from '../tracing/stages.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import { EngineSession } from '../load/engine_session.js';
import { azureWorkload, burstGptWorkload, capturedWorkload, detectFormat, mooncakeWorkload } from '../workload/dataset_files.js';
import { fillInputs } from '../workload/load_workload.js';
import type { Workload } from '../workload/request_spec.js';
import { beyondTolerance, compareTimings, fromOutcome, fromRecord, withBand } from './fidelity.js';
import type { FidelityReport, FidelityRow, RequestTiming } from './fidelity.js';
import { MIN_FIT_REQUESTS, fitTimingModel, scaledModel, simulate } from './simulator.js';
import type { TimingModel } from './simulator.js';
import { usableRid } from '../request_id.js';

export interface ReplayOptions {
  file: string;
  url?: string;
  endpoint: Endpoint;
  apiKey?: string;
  /** Engine settings given on the command line; the capture's header fills the rest. */
  engine: EngineOptions;
  speed: number;
  limit: number;
  /** [from, to) ms of the capture's arrival offsets. */
  timeWindow: [number, number] | null;
  output?: string;
  tolerance: number | null;
  simulate: boolean;
  seed: number;
  /** A drift must also exceed this many ms of p50 to fail --tolerance (default DEFAULT_FLOOR_MS). */
  toleranceFloorMs?: number;
  /** Warm-up copies of the first requests sent before the replay (default: 2 in-process, none to a server given with --url). */
  warmup?: number;
}

export interface ReplayResult {
  format: string;
  workload: string;
  requests: number;
  mode: 'execute' | 'simulate';
  warnings: string[];
  fidelity: FidelityReport;
  /** Rows whose p50 drifted beyond --tolerance. */
  beyondTolerance: FidelityRow[];
  /** Requests that failed (the same number as `metrics.failed`). */
  failed: number;
  metrics: BenchMetrics | null;
  model: TimingModel | null;
  /** The model directory an in-process replay loaded, and why that one. */
  loaded: { dir: string; why: string } | null;
  truncated: boolean;
  /** Per-request timings behind the report (for charts). */
  timings: { captured: RequestTiming[]; replayed: RequestTiming[] };
}

/** The selected requests with arrivals from the first of them, at --speed. */
function paced(w: Workload, o: ReplayOptions): Workload {
  if (w.requests.length === 0) throw new WorkloadError(o.file, null, 'has no requests in the selected --time-window / --limit.');
  let first = Infinity;
  for (const r of w.requests) first = Math.min(first, r.arrivalMs ?? 0);
  return { name: w.name, requests: w.requests.map((r) => ({ ...r, arrivalMs: ((r.arrivalMs ?? 0) - first) / o.speed })) };
}

/** Reads the capture, runs it again (or simulates it), and compares stage timings. */
export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const format = detectFormat(o.file);
  // One pass over the file, stopping (CSV, JSONL) once --limit requests in --time-window are read.
  const selection = { count: o.limit, window: o.timeWindow };
  const trace = format === 'trace' ? capturedWorkload(o.file, selection) : null;
  const raw = trace ? trace.workload : format === 'mooncake' ? mooncakeWorkload(o.file, selection) : format === 'azure' ? azureWorkload(o.file, selection) : burstGptWorkload(o.file, selection);
  const workload = paced(raw, o);
  const capturedRecords = trace?.records ?? [];
  const captured: RequestTiming[] = capturedRecords.map((w) => ({ ...fromRecord(w), id: usableRid(w.rid) }));
  const header = trace?.header ?? null;
  const engineSettings = (header?.engine ?? {}) as Record<string, number>;
  const engineOptions: EngineOptions = {
    modelPath: o.engine.modelPath ?? header?.model.dir,
    device: o.engine.device ?? (header?.device as 'cpu' | 'cuda' | undefined),
    threads: o.engine.threads ?? engineSettings.intraOpThreads,
    maxRunningRequests: o.engine.maxRunningRequests ?? engineSettings.maxRunningRequests,
    maxPrefillTokens: o.engine.maxPrefillTokens ?? engineSettings.maxPrefillTokens,
    kvCacheMb: o.engine.kvCacheMb ?? engineSettings.kvCacheMb,
  };
  const base = { format, workload: workload.name, requests: workload.requests.length, truncated: trace?.truncated ?? false };

  if (o.simulate) {
    const simReqs = capturedRecords.map((w) => ({ id: usableRid(w.rid), arrivalMs: w.arrivalMs, inputTokens: w.inputTokens, outputTokens: w.outputTokens, ttftMs: w.ttftMs, e2eMs: w.e2eMs, stages: w.stages }));
    const model = fitTimingModel(simReqs);
    const limits = { maxRunningRequests: engineOptions.maxRunningRequests ?? ENGINE_DEFAULTS.maxRunningRequests, maxPrefillTokens: engineOptions.maxPrefillTokens ?? ENGINE_DEFAULTS.maxPrefillTokens };
    const predicted = simulate(simReqs, model, limits, o.speed);
    // The band: the same simulation with every prefill and decode step at each end of its fit's residual spread.
    const band = {
      low: compareTimings(captured, simulate(simReqs, scaledModel(model, 'low'), limits, o.speed)),
      high: compareTimings(captured, simulate(simReqs, scaledModel(model, 'high'), limits, o.speed)),
    };
    const fidelity = withBand(compareTimings(captured, predicted), band.low, band.high);
    const warnings = model.fittedOn < MIN_FIT_REQUESTS
      ? [`The timing models are fitted on ${model.fittedOn} requests; with fewer than ${MIN_FIT_REQUESTS} the predictions are rough (their bands show how rough). Capture more requests for a prediction to rely on.`]
      : [];
    return { ...base, mode: 'simulate', warnings, fidelity, beyondTolerance: o.tolerance === null ? [] : beyondTolerance(fidelity, o.tolerance, o.toleranceFloorMs), failed: 0, metrics: null, model, loaded: null, timings: { captured, replayed: predicted } };
  }

  // Requests that came without token ids get seeded ones of the recorded count.
  // A capture made elsewhere names a model directory this machine may not have.
  if (!o.engine.modelPath && header && engineOptions.modelPath && !existsSync(engineOptions.modelPath)) {
    if (!o.url) throw new SglError(`The capture ran ${header.model.id} from ${engineOptions.modelPath}, which is not on this machine; pass --model-path with that model (or --url).`);
    engineOptions.modelPath = undefined;
  }
  const spec = loadModelSpec(engineOptions.modelPath);
  const tok = new TextTokenizer(spec);
  fillInputs(workload, { vocabSize: spec.vocabSize ?? 32000, specialIds: spec.eosTokenIds, encode: (t) => tok.encode(t, false), decode: (ids) => tok.decode(ids) }, o.seed);
  // In-process, a couple of untraced warm-up requests, so the replay does not measure a cold engine against a warm
  // capture. A server given with --url gets exactly the capture's requests unless warm-ups are asked for.
  const warmup = o.warmup ?? (o.url ? 0 : 2);
  const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: Infinity, seed: o.seed, warmup, replayArrivals: true });
  const warnings: string[] = [];
  if (o.url) {
    const target = await HttpTarget.connect(o.url, o.endpoint, { apiKey: o.apiKey, countTokens: (t) => tok.encode(t, false).length, sendIds: true });
    if (header && target.model !== header.model.id) warnings.push(`The capture ran ${header.model.id}; ${o.url} serves ${target.model}.`);
    let run;
    let warm;
    try {
      warm = await driver.warmup(target, workload);
      run = await driver.run(target, workload);
    } finally {
      target.close();
    }
    const replayed = run.outcomes.filter((x) => !x.error).map(fromOutcome);
    const fidelity = compareTimings(captured, replayed);
    const metrics = summarize(run, null, warm);
    return { ...base, mode: 'execute', warnings, fidelity, beyondTolerance: o.tolerance === null ? [] : beyondTolerance(fidelity, o.tolerance, o.toleranceFloorMs), failed: metrics.failed, metrics, model: null, loaded: null, timings: { captured, replayed } };
  }
  const level = (header?.trace.level || 2) as TraceLevel;
  const modules = (header?.trace.modules ?? ['request']) as TraceModule[];
  const session = await EngineSession.start(engineOptions, { level, modules, sampleRate: 1, traceFile: o.output, includeContent: header?.trace.includeContent ?? false });
  const engine = session.engine;
  const why = o.engine.modelPath ? 'given with --model-path' : engineOptions.modelPath ? "named by the capture's header; pass --model-path to choose another" : 'the embedded default model';
  const loaded = { dir: engine.spec.dir, why };
  try {
    if (header) {
      if (header.model.id !== engine.spec.id) warnings.push(`The capture ran model ${header.model.id}; the replay runs ${engine.spec.id}.`);
      if (header.device !== engine.device) warnings.push(`The capture ran on ${header.device}; the replay runs on ${engine.device}.`);
      for (const [k, v] of Object.entries(engineSettings)) {
        const now = (engine.info.limits as unknown as Record<string, number>)[k];
        if (now !== undefined && now !== v) warnings.push(`Engine setting ${k} was ${v} in the capture and is ${now} now.`);
      }
    }
    const target = new EngineTarget(engine);
    const warm = await session.untraced(() => driver.warmup(target, workload));
    const run = await driver.run(target, workload);
    const replayed = (await session.traced()).map((r) => fromRecord(r.workload));
    const fidelity = compareTimings(captured, replayed);
    const metrics = summarize(run, null, warm);
    return { ...base, mode: 'execute', warnings, fidelity, beyondTolerance: o.tolerance === null ? [] : beyondTolerance(fidelity, o.tolerance, o.toleranceFloorMs), failed: metrics.failed, metrics, model: null, loaded, timings: { captured, replayed } };
  } finally {
    await session.close();
  }
}
