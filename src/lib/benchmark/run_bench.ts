import type { EngineOptions } from '../engine/engine.js';
import { loadModelSpec } from '../engine/model_dir.js';
import { summarizeStages } from '../analysis/stage_summary.js';
import type { StageSummary } from '../analysis/stage_summary.js';
import { spanCount } from '../tracing/records.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import type { TracingSetup } from '../tracing/tracing_setup.js';
import { loadWorkload } from '../workload/load_workload.js';
import type { Workload } from '../workload/request_spec.js';
import { baseLevel, compareTraceLevels } from './compare_levels.js';
import type { LevelComparison, LevelRow, LevelRun } from './compare_levels.js';
import { BenchDriver } from '../target/driver.js';
import type { DriverOptions, RequestOutcome } from '../target/driver.js';
import type { BenchMetrics, Slo } from './statistics.js';
import { summarize } from './statistics.js';
import type { HttpTarget } from '../target/http_target.js';
import type { Endpoint } from '../target/targets.js';
import type { FleetPolicy } from '../target/fleet.js';
import type { WorkloadOptions } from '../workload/load_workload.js';
import { withTarget, workloadTokenizer } from '../target/with_target.js';
import { multiTurnHitRate } from '../workload/multi_turn.js';
import type { OpenTarget, TargetSetup } from '../target/with_target.js';
import { SglError } from '../errors.js';

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
  /** multi-turn: the prefix-cache hit rate the conversations allow (every answer kept); absent otherwise. */
  expectedHitRate?: number;
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
    return {
      url,
      completed: m.completed,
      failed: m.failed,
      ttftP50Ms: m.ttft_ms.median,
      ttftP99Ms: m.ttft_ms.p99,
      e2eP50Ms: m.e2e_latency_ms.median,
      outputThroughput: m.output_throughput,
    };
  });
}

/**
 * One bench session: builds the workload, runs it against the in-process
 * engine or a server (once, or once per trace level and repeat), and
 * returns plain results for the printers. `onProgress` sees every response.
 */
export async function runBench(o: BenchOptions, onProgress?: (done: number, total: number) => void): Promise<BenchResult> {
  const result = await runBenchOnce(o, onProgress);
  return result.workload.conversations ? { ...result.result, expectedHitRate: multiTurnHitRate(result.workload.conversations) } : result.result;
}

async function runBenchOnce(o: BenchOptions, onProgress?: (done: number, total: number) => void): Promise<{ result: BenchResult; workload: Workload }> {
  const workload = loadWorkload(o.workload, workloadTokenizer(loadModelSpec(o.engine.modelPath)));
  const driver = new BenchDriver(o.driver);
  if (onProgress) driver.on('progress', onProgress);
  const setup: TargetSetup = {
    urls: o.urls,
    policy: o.policy,
    endpoint: o.endpoint,
    apiKey: o.apiKey,
    sendIds: o.tokenizePrompt,
    serverTiming: o.serverTiming,
    engine: o.engine,
    tracing: o.tracing,
  };
  const measure = async (t: OpenTarget, level: TraceLevel | null): Promise<Measured> => {
    // A server changes level in place; the in-process engine was started at it.
    if (level !== null) for (const server of t.servers) await setServerLevel(server, level, o.apiKey);
    const warm = await t.untraced(() => driver.warmup(t.target, workload));
    const run = await driver.run(t.target, workload);
    const traced = await t.traced();
    const spansPerRequest = t.session ? (traced.length ? traced.reduce((a, r) => a + spanCount(r), 0) / run.outcomes.length : 0) : null;
    return { metrics: summarize(run, o.slo, warm), outcomes: run.outcomes, spansPerRequest, stages: summarizeStages(traced), target: t.target.name };
  };
  if (o.urls?.length) {
    // One set of connections for every run; the servers' own level is set per run.
    const result = await withTarget(setup, async (t) => {
      const result = await finish(workload, o, (level) => measure(t, level));
      const targets =
        t.servers.length > 1
          ? perTarget(
              t.servers.map((s) => s.url),
              result.outcomes,
              result.metrics.duration_s * 1000,
              o.slo,
            )
          : null;
      return { ...result, warnings: t.warnings, targets };
    });
    return { result, workload };
  }
  // In-process, a fresh engine per run; a compared level is traced to memory only (no trace file).
  const result = await finish(workload, o, (level) =>
    withTarget(level === null ? setup : { ...setup, tracing: { ...o.tracing, level, traceFile: undefined } }, (t) => measure(t, null)),
  );
  return { result, workload };
}

type Measured = LevelRun & { outcomes: RequestOutcome[]; stages: StageSummary[]; target: string };

async function finish(workload: Workload, o: BenchOptions, once: (level: TraceLevel | null) => Promise<Measured>): Promise<BenchResult> {
  if (!o.compareLevels) {
    const run = await once(null);
    return {
      target: run.target,
      workload: workload.name,
      metrics: run.metrics,
      outcomes: run.outcomes,
      stages: run.stages.length ? run.stages : null,
      levels: null,
      comparison: null,
    };
  }
  const levels = o.compareLevels;
  const top = Math.max(...levels);
  // The summary table and the CDFs show the base level's first run; the stage table the highest level's last.
  let baseOutcomes: RequestOutcome[] = [];
  let stages: StageSummary[] | null = null;
  let target = '';
  const { rows, ...comparison } = await compareTraceLevels({ levels, repeats: o.repeats, targetCi: o.targetCi, budgetMs: o.budgetMs }, async (level, round) => {
    const run = await once(level);
    target = run.target;
    if (level === baseLevel(levels) && round === 0) baseOutcomes = run.outcomes;
    if (run.stages.length && level === top) stages = run.stages;
    return run;
  });
  return { target, workload: workload.name, metrics: rows[0].runs[0].metrics, outcomes: baseOutcomes, stages, levels: rows, comparison };
}

async function setServerLevel(target: HttpTarget, level: TraceLevel, apiKey?: string): Promise<void> {
  const res = await fetch(`${target.url}/set_trace_level?level=${level}`, { method: 'POST', headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  if (!res.ok)
    throw new SglError(
      `${target.url} did not accept POST /set_trace_level?level=${level} (${res.status}); --compare-trace-levels with --url needs an sgl or SGLang server.`,
    );
}
