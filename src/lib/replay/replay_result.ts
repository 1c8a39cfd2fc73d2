import type { BenchMetrics } from '../benchmark/statistics.js';
import type { EngineOptions } from '../engine/engine.js';
import type { WorkloadRecord } from '../tracing/finished_request.js';
import type { TraceHeader } from '../tracing/tracing.js';
import type { FleetPolicy } from '../target/fleet.js';
import type { Endpoint } from '../target/targets.js';
import type { WorkloadFormat } from '../workload/formats.js';
import type { ContextFit, FitMode } from '../workload/fit_context.js';
import { impliedHitRate } from '../workload/hash_blocks.js';
import type { RequestSpec, Workload } from '../workload/request_spec.js';
import { beyondTolerance } from './fidelity.js';
import type { FidelityReport, FidelityRow, TimingSample } from './fidelity.js';
import type { TimingModel } from './simulator.js';

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
  /** In-process execution: the replay's own trace level and modules (default: the capture's; level 2, request, for a public trace). */
  traceLevel?: number;
  traceModules?: readonly string[];
  /** --simulate: every fitted prefill cost and decode step (and repack) multiplied by these (default 1). */
  costScale?: CostScale;
}

/** Factors on the simulator's fitted costs: prefill runs, and decode steps with their repacks. */
export interface CostScale {
  prefill: number;
  decode: number;
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
  timings: { captured: TimingSample[]; replayed: TimingSample[] };
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

/** What a replay reads from its file before running or simulating it. */
export interface ReplayInput {
  format: WorkloadFormat;
  /** The selected requests, paced from the first at --speed. */
  workload: Workload;
  /** An sgl capture's header and per-request records; null and empty for public traces. */
  header: TraceHeader | null;
  records: readonly WorkloadRecord[];
  /** The captured timings the replay is compared with. */
  captured: TimingSample[];
  truncated: boolean;
  /** What the reader has to say of the file (a format without arrival times). */
  notes: string[];
}

/** The parts of a result every replay fills the same way. */
export function replayResult(
  o: ReplayOptions,
  input: ReplayInput,
  requests: readonly RequestSpec[],
  r: Pick<ReplayResult, 'mode' | 'warnings' | 'fidelity' | 'metrics' | 'model' | 'loaded' | 'fit' | 'schedule' | 'profile'> & { replayed: TimingSample[] },
): ReplayResult {
  const gated = o.tolerance === null || input.captured.length === 0 ? [] : beyondTolerance(r.fidelity, o.tolerance, o.toleranceFloorMs);
  const { replayed, ...rest } = r;
  return {
    ...rest,
    warnings: [...input.notes, ...r.warnings],
    format: input.format,
    workload: input.workload.name,
    truncated: input.truncated,
    requests: requests.length,
    beyondTolerance: gated,
    failed: r.metrics?.failed ?? 0,
    timings: { captured: input.captured, replayed },
    expectedHitRate: expectedHitRate(requests, input.records),
  };
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
