import { existsSync } from 'node:fs';
import { summarize } from '../benchmark/statistics.js';
import type { DeviceChoice } from '../engine/devices.js';
import type { EngineOptions } from '../engine/engine.js';
import { SglError, WorkloadError } from '../errors.js';
import { percentile } from '../stats/distribution.js';
import type { TraceModule } from '../tracing/stages.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import type { TraceHeader } from '../tracing/tracing.js';
import { BenchDriver } from '../target/driver.js';
import type { RequestOutcome } from '../target/driver.js';
import { withTarget } from '../target/with_target.js';
import type { OpenTarget } from '../target/with_target.js';
import { fitToContext } from '../workload/fit_context.js';
import type { ContextFit } from '../workload/fit_context.js';
import { fillInputs } from '../workload/load_workload.js';
import type { Workload } from '../workload/request_spec.js';
import { compareTimings, fromOutcome, fromRecord } from './fidelity.js';
import { replayResult } from './replay_result.js';
import type { ReplayInput, ReplayOptions, ReplayResult, ScheduleLateness } from './replay_result.js';

/** Sends the capture's requests again at their recorded arrivals, to the in-process engine or the servers given with --url. */
export async function executeReplay(o: ReplayOptions, input: ReplayInput): Promise<ReplayResult> {
  const { header, workload } = input;
  // In-process, a couple of untraced warm-up requests, so the replay does not measure a cold engine against a warm
  // capture. A server given with --url gets exactly the capture's requests unless warm-ups are asked for.
  const warmup = o.warmup ?? (o.urls?.length ? 0 : 2);
  const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: Infinity, seed: o.seed, warmup, replayArrivals: true });
  const level = (o.traceLevel ?? (header?.trace.level || 2)) as TraceLevel;
  const modules = (o.traceModules ?? header?.trace.modules ?? ['request']) as TraceModule[];
  // In-process the engine's stages go to --output; with --url the client's side of each request, under the trace id the server continues.
  const tracing = { level, modules, sampleRate: 1, traceFile: o.output, includeContent: header?.trace.includeContent ?? false };
  const engine = captureEngine(o, header);
  return withTarget({ urls: o.urls, policy: o.policy, endpoint: o.endpoint, apiKey: o.apiKey, sendIds: true, engine, tracing }, async (t) => {
    const warnings = [...t.warnings, ...headerWarnings(header, t)];
    // Public traces are fitted to what the target holds; requests then get seeded token ids of their lengths.
    let fit: ContextFit | null = null;
    if (input.format !== 'trace')
      ({ requests: workload.requests, fit } = fitToContext(workload.requests, t.context.tokens, o.fitContext ?? 'scale', t.context.source));
    if (workload.requests.length === 0) throw new WorkloadError(o.file, null, 'has no request that the model can hold; see --fit-context.');
    fillInputs(workload, t.tokenizer, o.seed);
    const warm = await t.untraced(() => driver.warmup(t.target, workload));
    const run = await driver.run(t.target, workload);
    // In-process the engine's own records; a server's from what the client saw.
    const replayed = t.session ? (await t.traced()).map((r) => fromRecord(r.workload)) : run.outcomes.filter((x) => !x.error).map(fromOutcome);
    const why = o.engine.modelPath
      ? 'given with --model-path'
      : engine.modelPath
        ? "named by the capture's header; pass --model-path to choose another"
        : 'the embedded default model';
    const loaded = t.session ? { dir: t.spec.dir, why } : null;
    const metrics = summarize(run, null, warm);
    return replayResult(o, input, workload.requests, {
      mode: 'execute',
      warnings,
      fidelity: compareTimings(input.captured, replayed),
      metrics,
      model: null,
      loaded,
      fit,
      schedule: lateness(workload, run.outcomes),
      profile: null,
      replayed,
    });
  });
}

/** Engine settings given on the command line; the capture's header fills the rest (a client's capture names a URL, not a model or device). */
function captureEngine(o: ReplayOptions, header: TraceHeader | null): EngineOptions {
  const settings = (header?.engine ?? {}) as Record<string, number>;
  const fromClient = header?.role === 'client';
  let modelPath = o.engine.modelPath ?? (fromClient ? undefined : header?.model.dir);
  // A capture made elsewhere names a model directory this machine may not have.
  if (!o.engine.modelPath && header && modelPath && !existsSync(modelPath)) {
    if (!o.urls?.length)
      throw new SglError(`The capture ran ${header.model.id} from ${modelPath}, which is not on this machine; pass --model-path with that model (or --url).`);
    modelPath = undefined;
  }
  return {
    modelPath,
    device: o.engine.device ?? (fromClient ? undefined : (header?.device as DeviceChoice | undefined)),
    threads: o.engine.threads ?? settings.intraOpThreads,
    maxRunningRequests: o.engine.maxRunningRequests ?? settings.maxRunningRequests,
    maxPrefillTokens: o.engine.maxPrefillTokens ?? settings.maxPrefillTokens,
    kvCacheMb: o.engine.kvCacheMb ?? settings.kvCacheMb,
  };
}

/** Where the target differs from what the capture ran on. */
function headerWarnings(header: TraceHeader | null, t: OpenTarget): string[] {
  if (!header) return [];
  const warnings: string[] = [];
  const engine = t.session?.engine;
  if (!engine) {
    const first = t.servers[0];
    if (first.model !== header.model.id)
      warnings.push(`The capture ran ${header.model.id}; ${t.servers.length > 1 ? `${first.url} (the first server)` : first.url} serves ${first.model}.`);
    return warnings;
  }
  if (header.model.id !== engine.spec.id) warnings.push(`The capture ran model ${header.model.id}; the replay runs ${engine.spec.id}.`);
  if (header.role === 'client')
    warnings.push(`The capture is a client's view of ${header.model.dir}: its stages are the client's, so only TTFT, TPOT and E2E compare with the replay's.`);
  else if (header.device !== engine.device) warnings.push(`The capture ran on ${header.device}; the replay runs on ${engine.device}.`);
  for (const [k, v] of Object.entries((header.engine ?? {}) as Record<string, number>)) {
    const now = (engine.info.limits as unknown as Record<string, number>)[k];
    if (now !== undefined && now !== v) warnings.push(`Engine setting ${k} was ${v} in the capture and is ${now} now.`);
  }
  return warnings;
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
