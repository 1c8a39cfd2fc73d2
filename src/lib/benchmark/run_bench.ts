import type { EngineOptions } from '../engine/engine.js';
import { loadModelSpec } from '../engine/model_dir.js';
import { TextTokenizer } from '../engine/tokenizer/tokenizer.js';
import { SglError } from '../errors.js';
import { summarizeStages } from '../analysis/stage_summary.js';
import type { StageSummary } from '../analysis/stage_summary.js';
import { spanCount } from '../tracing/records.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import { createTracing } from '../tracing/tracing_setup.js';
import type { TracingSetup } from '../tracing/tracing_setup.js';
import { EngineSession } from '../target/engine_session.js';
import { loadWorkload } from '../workload/load_workload.js';
import type { WorkloadOptions, WorkloadTokenizer } from '../workload/load_workload.js';
import type { Workload } from '../workload/request_spec.js';
import { baseLevel, compareTraceLevels } from './compare_levels.js';
import type { LevelComparison, LevelRow, LevelRun } from './compare_levels.js';
import { BenchDriver } from '../target/driver.js';
import type { DriverOptions, RequestOutcome } from '../target/driver.js';
import type { BenchMetrics, Slo } from './statistics.js';
import { summarize } from './statistics.js';
import { EngineTarget, HttpTarget } from '../target/targets.js';
import { connectTargets } from '../target/fleet.js';
import type { Connected, FleetPolicy } from '../target/fleet.js';
import type { Endpoint } from '../target/targets.js';

export interface BenchOptions {
  /** Servers to send to (--url, once or more) instead of the in-process engine. */
  urls?: readonly string[];
  /** How requests are spread over several servers. */
  policy?: FleetPolicy;
  endpoint: Endpoint;
  apiKey?: string;
  /** --url, completions: send token ids rather than text (bench_serving's --tokenize-prompt). */
  tokenizePrompt?: boolean;
  /** --url: ask the server for each request's own timing (sgl serve's include_timing) and report transport time. */
  serverTiming?: boolean;
  engine: Omit<EngineOptions, 'tracing'>;
  /** In-process: how runs are traced; with --compare-trace-levels each run takes its level, and none writes the trace file. */
  tracing: TracingSetup;
  workload: WorkloadOptions;
  driver: DriverOptions;
  slo: Slo | null;
  compareLevels: TraceLevel[] | null;
  repeats: number;
  /** --compare-trace-levels: add rounds until every throughput ratio's 95% half-width is under this fraction. */
  targetCi: number | null;
  /** The time --target-ci may take, ms. */
  budgetMs: number;
}

export interface BenchResult {
  target: string;
  workload: string;
  metrics: BenchMetrics;
  outcomes: RequestOutcome[];
  stages: StageSummary[] | null;
  levels: LevelRow[] | null;
  /** How the level comparison ended: rounds run, time taken, and whether --target-ci was reached. */
  comparison: Omit<LevelComparison, 'rows'> | null;
  /** Several servers: figures per server (of the run the summary shows). */
  targets?: TargetRow[] | null;
  /** Things the run could go on despite (a server left out, different models). */
  warnings?: string[];
}

/** One server of a fleet: what it served of the run. */
export interface TargetRow {
  url: string;
  completed: number;
  failed: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  e2eP50Ms: number;
  outputThroughput: number;
}

/** The run's outcomes split by the server that answered them (a failed request by the one that failed it). */
function perTarget(urls: readonly string[], outcomes: readonly RequestOutcome[], durationMs: number, slo: Slo | null): TargetRow[] {
  return urls.map((url) => {
    const mine = outcomes.filter((x) => x.target === url);
    const m = summarize({ outcomes: mine, durationMs, peakConcurrency: 0, meanConcurrency: 0 }, slo, 0);
    return { url, completed: m.completed, failed: m.failed, ttftP50Ms: m.ttft_ms.median, ttftP99Ms: m.ttft_ms.p99, e2eP50Ms: m.e2e_latency_ms.median, outputThroughput: m.output_throughput };
  });
}

function workloadTokenizer(tokenizer: TextTokenizer, vocabSize: number, specialIds: readonly number[]): WorkloadTokenizer {
  return { vocabSize, specialIds, encode: (t) => tokenizer.encode(t, false), decode: (ids) => tokenizer.decode(ids) };
}

/**
 * One bench session: builds the workload, runs it against the in-process
 * engine or a server (once, or once per trace level and repeat), and
 * returns plain results for the printers. `onProgress` sees every response.
 */
export async function runBench(o: BenchOptions, onProgress?: (done: number, total: number) => void): Promise<BenchResult> {
  const spec = loadModelSpec(o.engine.modelPath);
  const tokenizer = workloadTokenizer(new TextTokenizer(spec), spec.vocabSize ?? 32000, spec.eosTokenIds);
  const workload = loadWorkload(o.workload, tokenizer);
  const driver = new BenchDriver(o.driver);
  if (onProgress) driver.on('progress', onProgress);

  if (o.urls?.length) {
    // The client's side of each request, traced at the run's level into its file or collector, under the trace id the server continues.
    const tracing = await createTracing({ ...o.tracing, modules: ['client'], keep: undefined });
    let fleet: Connected | null = null;
    try {
      const options = { apiKey: o.apiKey, countTokens: (t: string) => tokenizer.encode(t).length, sendIds: o.tokenizePrompt ?? false, serverTiming: o.serverTiming ?? false, tracing };
      const connected = (fleet = await connectTargets(o.urls, (url) => HttpTarget.connect(url, o.endpoint, options), o.policy ?? 'round-robin', tracing));
      const once = async (level: TraceLevel | null): Promise<LevelRun & { outcomes: RequestOutcome[] }> => {
        const warm = await driver.warmup(connected.target, workload);
        if (level !== null) for (const server of connected.servers) await setServerLevel(server, level, o.apiKey);
        const run = await driver.run(connected.target, workload);
        return { metrics: summarize(run, o.slo, warm), outcomes: run.outcomes, spansPerRequest: null };
      };
      const result = await finish(connected.target.name, workload, o, once);
      return { ...result, warnings: connected.warnings, targets: connected.servers.length > 1 ? perTarget(connected.servers.map((t) => t.url), result.outcomes, result.metrics.duration_s * 1000, o.slo) : null };
    } finally {
      fleet?.target.close();
      await tracing.shutdown();
    }
  }

  let targetName = '';
  const once = async (level: TraceLevel | null): Promise<LevelRun & { outcomes: RequestOutcome[]; stages: StageSummary[] }> => {
    const setup = level === null ? o.tracing : { ...o.tracing, level, traceFile: undefined };
    const session = await EngineSession.start(o.engine, setup);
    try {
      const target = new EngineTarget(session.engine);
      targetName = target.name;
      const warm = await session.untraced(() => driver.warmup(target, workload));
      const run = await driver.run(target, workload);
      const traced = await session.traced();
      return {
        metrics: summarize(run, o.slo, warm),
        outcomes: run.outcomes,
        spansPerRequest: traced.length ? traced.reduce((a, r) => a + spanCount(r), 0) / run.outcomes.length : 0,
        stages: summarizeStages(traced),
      };
    } finally {
      await session.close();
    }
  };
  const result = await finish('', workload, o, once);
  return { ...result, target: targetName };
}

async function finish(
  target: string,
  workload: Workload,
  o: BenchOptions,
  once: (level: TraceLevel | null) => Promise<LevelRun & { outcomes: RequestOutcome[]; stages?: StageSummary[] }>,
): Promise<BenchResult> {
  if (!o.compareLevels) {
    const run = await once(null);
    return { target, workload: workload.name, metrics: run.metrics, outcomes: run.outcomes, stages: run.stages?.length ? run.stages : null, levels: null, comparison: null };
  }
  const levels = o.compareLevels;
  const top = Math.max(...levels);
  // The summary table and the CDFs show the base level's first run; the stage table the highest level's last.
  let baseOutcomes: RequestOutcome[] = [];
  let stages: StageSummary[] | null = null;
  const { rows, ...comparison } = await compareTraceLevels({ levels, repeats: o.repeats, targetCi: o.targetCi, budgetMs: o.budgetMs }, async (level, round) => {
    const run = await once(level);
    if (level === baseLevel(levels) && round === 0) baseOutcomes = run.outcomes;
    if (run.stages?.length && level === top) stages = run.stages;
    return run;
  });
  return { target, workload: workload.name, metrics: rows[0].runs[0].metrics, outcomes: baseOutcomes, stages, levels: rows, comparison };
}

async function setServerLevel(target: HttpTarget, level: TraceLevel, apiKey?: string): Promise<void> {
  const res = await fetch(`${target.url}/set_trace_level?level=${level}`, { method: 'POST', headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  if (!res.ok) throw new SglError(`${target.url} did not accept POST /set_trace_level?level=${level} (${res.status}); --compare-trace-levels with --url needs an sgl or SGLang server.`);
}
