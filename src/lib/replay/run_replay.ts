import { existsSync } from 'node:fs';
import { BenchDriver } from '../target/driver.js';
import type { BenchRun, RequestOutcome } from '../target/driver.js';
import { summarize } from '../benchmark/statistics.js';
import type { BenchMetrics } from '../benchmark/statistics.js';
import { EngineTarget, HttpTarget } from '../target/targets.js';
import type { Endpoint } from '../target/targets.js';
import { ENGINE_DEFAULTS } from '../engine/engine.js';
import type { EngineOptions } from '../engine/engine.js';
import { SglError, WorkloadError } from '../errors.js';
import { loadModelSpec } from '../engine/model_dir.js';
import { TextTokenizer } from '../engine/tokenizer/tokenizer.js';
import type { TraceModule } from '../tracing/stages.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import { EngineSession } from '../target/engine_session.js';
import { azureWorkload, burstGptWorkload, capturedWorkload, detectFormat, mooncakeWorkload } from '../workload/dataset_files.js';
import { fillInputs } from '../workload/load_workload.js';
import { fitToContext } from '../workload/fit_context.js';
import type { ContextFit, FitMode } from '../workload/fit_context.js';
import { percentile } from '../stats/distribution.js';
import type { RequestSpec, Workload } from '../workload/request_spec.js';
import { beyondTolerance, compareTimings, fromOutcome, fromRecord, withBand } from './fidelity.js';
import type { FidelityReport, FidelityRow, RequestTiming } from './fidelity.js';
import { MIN_FIT_REQUESTS, fitTimingModel, scaledModel, simulate } from './simulator.js';
import type { TimingModel } from './simulator.js';
import { usableRid } from '../request_id.js';
import type { WorkloadRecord } from '../tracing/finished_request.js';
import { engineSteps } from './engine_steps.js';
import { impliedHitRate } from '../workload/hash_blocks.js';
import { TraceReader } from '../tracing/trace_file/reader.js';
import { createTracing } from '../tracing/tracing_setup.js';
import type { DeviceChoice } from '../engine/devices.js';
import { connectTargets } from '../target/fleet.js';
import type { Connected, FleetPolicy } from '../target/fleet.js';

export interface ReplayOptions {
  file: string;
  /** Servers to send to (--url, once or more) instead of the in-process engine. */
  urls?: readonly string[];
  policy?: FleetPolicy;
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
  /** How requests that do not fit the model are made to (default scale). */
  fitContext?: FitMode;
  /** --simulate: the capture whose timings fit the models, when the file replayed is another workload (a public trace). */
  profile?: string;
}

/** The bench run that makes a profile the simulator fits step by step. */
export const PROFILE_COMMAND = 'sgl bench --trace-level 3 --trace-module request,scheduler,engine --trace-file profile.json --num-prompts 200';

/** How late requests were sent against the schedule the trace sets (ms, at --speed). */
export interface ScheduleLateness {
  p50: number;
  p99: number;
  max: number;
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
  /** What fitting the workload to the model did; null when nothing needed fitting. */
  fit: ContextFit | null;
  /** Executed replays: how far behind the trace's schedule requests were sent. */
  schedule: ScheduleLateness | null;
  /** The capture the simulator's models were fitted on. */
  profile: string | null;
  /**
   * The prefix-cache hit rate to compare the replay's with: what a Mooncake trace's hash_ids imply (as
   * fitted; every block kept), or what an sgl capture's engine got; null when the file says neither.
   */
  expectedHitRate: { rate: number; from: 'hash_ids' | 'capture' } | null;
}

/** The selected requests with arrivals from the first of them, at `speed`: the schedule a replay keeps. */
export function paced(w: Workload, file: string, speed: number): Workload {
  if (w.requests.length === 0) throw new WorkloadError(file, null, 'has no requests in the selected --time-window / --limit.');
  let first = Infinity;
  for (const r of w.requests) first = Math.min(first, r.arrivalMs ?? 0);
  return { name: w.name, requests: w.requests.map((r) => ({ ...r, arrivalMs: ((r.arrivalMs ?? 0) - first) / speed })) };
}

/** Reads the capture, runs it again (or simulates it), and compares stage timings. */
export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const format = detectFormat(o.file);
  // One pass over the file, stopping (CSV, JSONL) once --limit requests in --time-window are read.
  const selection = { count: o.limit, window: o.timeWindow };
  const trace = format === 'trace' ? capturedWorkload(o.file, selection) : null;
  const raw = trace ? trace.workload : format === 'mooncake' ? mooncakeWorkload(o.file, selection) : format === 'azure' ? azureWorkload(o.file, selection) : burstGptWorkload(o.file, selection);
  const workload = paced(raw, o.file, o.speed);
  const capturedRecords = trace?.records ?? [];
  const captured: RequestTiming[] = capturedRecords.map((w) => ({ ...fromRecord(w), id: usableRid(w.rid) }));
  const header = trace?.header ?? null;
  const engineSettings = (header?.engine ?? {}) as Record<string, number>;
  // A client's capture (bench or replay with --url) names the server's URL, not a model directory or a device.
  const fromClient = header?.role === 'client';
  const engineOptions: EngineOptions = {
    modelPath: o.engine.modelPath ?? (fromClient ? undefined : header?.model.dir),
    device: o.engine.device ?? (fromClient ? undefined : (header?.device as DeviceChoice | undefined)),
    threads: o.engine.threads ?? engineSettings.intraOpThreads,
    maxRunningRequests: o.engine.maxRunningRequests ?? engineSettings.maxRunningRequests,
    maxPrefillTokens: o.engine.maxPrefillTokens ?? engineSettings.maxPrefillTokens,
    kvCacheMb: o.engine.kvCacheMb ?? engineSettings.kvCacheMb,
  };
  const base = { format, workload: workload.name, truncated: trace?.truncated ?? false };
  const fitMode = o.fitContext ?? 'scale';
  const gate = (fidelity: FidelityReport): FidelityRow[] => (o.tolerance === null || captured.length === 0 ? [] : beyondTolerance(fidelity, o.tolerance, o.toleranceFloorMs));

  if (o.simulate) {
    // The timing models come from a capture of this model and engine: the file itself, or --profile.
    const profilePath = o.profile ?? (trace ? o.file : null);
    if (!profilePath) throw new SglError(`--simulate of a ${format} trace needs --profile CAPTURE: an sgl trace of this model and engine whose stage timings fit the simulator's models. Make one with ${PROFILE_COMMAND}, with --request-rate and --random-input-len/--random-output-len like the workload's.`);
    const profile = o.profile ? capturedWorkload(o.profile, Infinity) : null;
    const fitRecords = profile ? profile.records : capturedRecords;
    const profileHeader = profile ? profile.header : header;
    // A level-3 capture holds every engine step: a second pass reads them for the step-level fit.
    const steps = profileHeader?.trace.level === 3 ? engineSteps(new TraceReader(profilePath).events()) : undefined;
    const model = fitTimingModel(fitRecords.map((w) => ({ id: usableRid(w.rid), arrivalMs: w.arrivalMs, inputTokens: w.inputTokens, outputTokens: w.outputTokens, cachedTokens: w.cachedTokens, ttftMs: w.ttftMs, e2eMs: w.e2eMs, stages: w.stages })), steps);
    const profileEngine = (profile?.header?.engine ?? engineSettings) as Record<string, number>;
    const limits = {
      maxRunningRequests: o.engine.maxRunningRequests ?? profileEngine.maxRunningRequests ?? ENGINE_DEFAULTS.maxRunningRequests,
      maxPrefillTokens: o.engine.maxPrefillTokens ?? profileEngine.maxPrefillTokens ?? ENGINE_DEFAULTS.maxPrefillTokens,
      // The KV budget the capture ran with, scaled by a --kv-cache-mb asked for instead.
      maxTotalTokens: profileEngine.maxTotalTokens === undefined ? undefined : Math.floor(profileEngine.maxTotalTokens * (o.engine.kvCacheMb && profileEngine.kvCacheMb ? o.engine.kvCacheMb / profileEngine.kvCacheMb : 1)),
    };
    const warnings: string[] = [];
    let requests = workload.requests;
    let fit: ContextFit | null = null;
    if (format !== 'trace') {
      const dir = o.engine.modelPath ?? (profile?.header && existsSync(profile.header.model.dir) ? profile.header.model.dir : undefined);
      const spec = loadModelSpec(dir);
      if (profile?.header && spec.id !== profile.header.model.id) warnings.push(`The profile ran ${profile.header.model.id}; lengths are fitted to ${spec.id}'s context (${spec.contextLength} tokens). Pass --model-path with the profile's model.`);
      ({ requests, fit } = fitToContext(requests, spec.contextLength, fitMode, `${spec.id}'s context length`));
    }
    if (requests.length === 0) throw new WorkloadError(o.file, null, 'has no request that the model can hold; see --fit-context.');
    const simReqs = requests.map((r) => ({ id: r.id, arrivalMs: r.arrivalMs ?? 0, inputTokens: r.inputTokens, outputTokens: r.outputTokens, ttftMs: null, e2eMs: 0, stages: {} }));
    const reach = { rows: 0, rowTokens: 0 };
    const predicted = simulate(simReqs, model, limits, 1, reach);
    // A line fitted on small batches says nothing of large ones (a decode step's cost per row can grow
    // several-fold once the batch's KV no longer fits the caches): past what the profile saw, say so.
    const beyond = [
      reach.rows > model.covered.rows * 1.1 ? `${reach.rows} running requests (the profile's largest decode step had ${model.covered.rows})` : '',
      model.covered.rowTokens && reach.rowTokens > model.covered.rowTokens * 1.1 ? `${reach.rowTokens} cached tokens in a step (the profile's most: ${model.covered.rowTokens})` : '',
    ].filter(Boolean);
    if (beyond.length) warnings.push(`The simulation reached ${beyond.join(' and ')}; its step costs there are extrapolated from smaller batches and may be far off. Profile at a load that reaches them.`);
    let fidelity = compareTimings(captured, predicted);
    if (captured.length) {
      // The band: the same simulation with every prefill and decode step at each end of its fit's residual spread.
      fidelity = withBand(fidelity, compareTimings(captured, simulate(simReqs, scaledModel(model, 'low'), limits)), compareTimings(captured, simulate(simReqs, scaledModel(model, 'high'), limits)));
    }
    if (model.basis === 'requests') warnings.push(`${profilePath} has no engine steps (it was captured at trace level ${profileHeader?.trace.level ?? '?'}${profileHeader?.trace.level === 3 ? ' without the scheduler and engine modules' : ''}), so decode steps are fitted per request and cannot follow the cache length; ${PROFILE_COMMAND} makes a profile fitted step by step.`);
    if (model.fittedOn < MIN_FIT_REQUESTS) warnings.push(`The timing models are fitted on ${model.fittedOn} requests; with fewer than ${MIN_FIT_REQUESTS} the predictions are rough${captured.length ? ' (their bands show how rough)' : ''}. Capture more requests for a prediction to rely on.`);
    const metrics = summarize(simulatedRun(requests, predicted));
    return { ...base, requests: requests.length, mode: 'simulate', warnings, fidelity, beyondTolerance: gate(fidelity), failed: 0, metrics, model, loaded: null, timings: { captured, replayed: predicted }, fit, schedule: null, profile: profilePath, expectedHitRate: expectedHitRate(requests, capturedRecords) };
  }

  // A capture made elsewhere names a model directory this machine may not have.
  if (!o.engine.modelPath && header && engineOptions.modelPath && !existsSync(engineOptions.modelPath)) {
    if (!o.urls?.length) throw new SglError(`The capture ran ${header.model.id} from ${engineOptions.modelPath}, which is not on this machine; pass --model-path with that model (or --url).`);
    engineOptions.modelPath = undefined;
  }
  const spec = loadModelSpec(engineOptions.modelPath);
  const tok = new TextTokenizer(spec);
  const tokenizer = { vocabSize: spec.vocabSize ?? 32000, specialIds: spec.eosTokenIds, encode: (t: string) => tok.encode(t, false), decode: (ids: readonly number[]) => tok.decode(ids) };
  /** Public traces are fitted to what the target holds; requests then get seeded token ids of their lengths. */
  const prepare = (limit: number, source: string): ContextFit | null => {
    let fit: ContextFit | null = null;
    if (format !== 'trace') ({ requests: workload.requests, fit } = fitToContext(workload.requests, limit, fitMode, source));
    if (workload.requests.length === 0) throw new WorkloadError(o.file, null, 'has no request that the model can hold; see --fit-context.');
    fillInputs(workload, tokenizer, o.seed);
    return fit;
  };
  // In-process, a couple of untraced warm-up requests, so the replay does not measure a cold engine against a warm
  // capture. A server given with --url gets exactly the capture's requests unless warm-ups are asked for.
  const warmup = o.warmup ?? (o.urls?.length ? 0 : 2);
  const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: Infinity, seed: o.seed, warmup, replayArrivals: true });
  const warnings: string[] = [];
  const level = (header?.trace.level || 2) as TraceLevel;
  if (o.urls?.length) {
    // The client's side of each replayed request goes to --output (module client), under the trace id the server continues.
    const tracing = await createTracing({ level, modules: ['client'], sampleRate: 1, traceFile: o.output, includeContent: header?.trace.includeContent ?? false });
    let run;
    let warm;
    let fit;
    let fleet: Connected | null = null;
    try {
      const options = { apiKey: o.apiKey, countTokens: (t: string) => tok.encode(t, false).length, sendIds: true, tracing };
      fleet = await connectTargets(o.urls, (url) => HttpTarget.connect(url, o.endpoint, options), o.policy ?? 'round-robin', tracing);
      warnings.push(...fleet.warnings);
      const first = fleet.servers[0];
      const where = fleet.servers.length > 1 ? `${first.url} (the first server)` : first.url;
      if (header && first.model !== header.model.id) warnings.push(`The capture ran ${header.model.id}; ${where} serves ${first.model}.`);
      fit = prepare(first.contextLength ?? spec.contextLength, first.contextLength ? `${first.model}'s max_model_len at ${where}` : `${spec.id}'s context length; ${where} does not say its own`);
      warm = await driver.warmup(fleet.target, workload);
      run = await driver.run(fleet.target, workload);
    } finally {
      fleet?.target.close();
      await tracing.shutdown();
    }
    const replayed = run.outcomes.filter((x) => !x.error).map(fromOutcome);
    const fidelity = compareTimings(captured, replayed);
    const metrics = summarize(run, null, warm);
    return { ...base, requests: workload.requests.length, mode: 'execute', warnings, fidelity, beyondTolerance: gate(fidelity), failed: metrics.failed, metrics, model: null, loaded: null, timings: { captured, replayed }, fit, schedule: lateness(workload, run.outcomes), profile: null, expectedHitRate: expectedHitRate(workload.requests, capturedRecords) };
  }
  const modules = (header?.trace.modules ?? ['request']) as TraceModule[];
  const session = await EngineSession.start(engineOptions, { level, modules, sampleRate: 1, traceFile: o.output, includeContent: header?.trace.includeContent ?? false });
  const engine = session.engine;
  const why = o.engine.modelPath ? 'given with --model-path' : engineOptions.modelPath ? "named by the capture's header; pass --model-path to choose another" : 'the embedded default model';
  const loaded = { dir: engine.spec.dir, why };
  try {
    if (header) {
      if (header.model.id !== engine.spec.id) warnings.push(`The capture ran model ${header.model.id}; the replay runs ${engine.spec.id}.`);
      if (fromClient) warnings.push(`The capture is a client's view of ${header.model.dir}: its stages are the client's, so only TTFT, TPOT and E2E compare with the replay's.`);
      else if (header.device !== engine.device) warnings.push(`The capture ran on ${header.device}; the replay runs on ${engine.device}.`);
      for (const [k, v] of Object.entries(engineSettings)) {
        const now = (engine.info.limits as unknown as Record<string, number>)[k];
        if (now !== undefined && now !== v) warnings.push(`Engine setting ${k} was ${v} in the capture and is ${now} now.`);
      }
    }
    const kv = engine.info.limits.maxTotalTokens;
    const fit = prepare(Math.min(engine.spec.contextLength, kv), kv < engine.spec.contextLength ? `the engine's KV budget of ${kv} tokens` : `${engine.spec.id}'s context length`);
    const target = new EngineTarget(engine);
    const warm = await session.untraced(() => driver.warmup(target, workload));
    const run = await driver.run(target, workload);
    const replayed = (await session.traced()).map((r) => fromRecord(r.workload));
    const fidelity = compareTimings(captured, replayed);
    const metrics = summarize(run, null, warm);
    return { ...base, requests: workload.requests.length, mode: 'execute', warnings, fidelity, beyondTolerance: gate(fidelity), failed: metrics.failed, metrics, model: null, loaded, timings: { captured, replayed }, fit, schedule: lateness(workload, run.outcomes), profile: null, expectedHitRate: expectedHitRate(workload.requests, capturedRecords) };
  } finally {
    await session.close();
  }
}

/** The hit rate a replay's is compared with: the trace's hash_ids, or the capture's own cached tokens. */
function expectedHitRate(requests: readonly RequestSpec[], records: readonly WorkloadRecord[]): ReplayResult['expectedHitRate'] {
  const implied = impliedHitRate(requests);
  if (implied !== null) return { rate: implied, from: 'hash_ids' };
  let cached = 0;
  let input = 0;
  for (const r of records) {
    if (r.cachedTokens === undefined) continue;
    cached += r.cachedTokens;
    input += r.inputTokens;
  }
  return input > 0 ? { rate: cached / input, from: 'capture' } : null;
}

/** How late each measured request was sent against its place in the schedule. */
function lateness(w: Workload, outcomes: readonly RequestOutcome[]): ScheduleLateness | null {
  const due = new Map(w.requests.map((r) => [r.id, r.arrivalMs ?? 0]));
  const late: number[] = [];
  for (const x of outcomes) {
    const at = due.get(x.id);
    if (at !== undefined) late.push(Math.max(0, x.sentAtMs - at));
  }
  if (late.length === 0) return null;
  const sorted = Float64Array.from(late).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
}

/** A simulated run in the shape bench's statistics take: each request sent on schedule, its predicted times, its concurrency. */
function simulatedRun(requests: readonly RequestSpec[], predicted: readonly RequestTiming[]): BenchRun {
  const edges: [number, number][] = [];
  let first = Infinity;
  let last = -Infinity;
  const outcomes: RequestOutcome[] = requests.map((r, i) => {
    const t = predicted[i];
    const at = r.arrivalMs ?? 0;
    first = Math.min(first, at);
    last = Math.max(last, at + t.e2eMs);
    edges.push([at, 1], [at + t.e2eMs, -1]);
    return { id: r.id, inputTokens: r.inputTokens, outputTokens: r.outputTokens, ttftMs: t.ttftMs, e2eMs: t.e2eMs, itlMs: [], sentAtMs: at, error: null, cachedTokens: null, serverTtftMs: null };
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
