import { distribution, tpotMs } from '../stats/distribution.js';
import type { Distribution } from '../stats/distribution.js';
import type { BenchRun, RequestOutcome } from '../target/driver.js';
import { compareHalves } from './steady_state.js';
import type { HalfComparison } from './steady_state.js';

export interface Slo {
  ttftMs?: number;
  tpotMs?: number;
  e2eMs?: number;
}

/** The run's figures, named as SGLang's bench_serving names them. */
export interface BenchMetrics {
  completed: number;
  failed: number;
  /** Failed requests grouped by kind of failure, most frequent first. */
  failures: FailureKind[];
  /** Requests sent before the run under ids of their own (warmup-…), not measured. */
  warmup: number;
  duration_s: number;
  total_input_tokens: number;
  total_output_tokens: number;
  request_throughput: number;
  input_throughput: number;
  output_throughput: number;
  total_throughput: number;
  ttft_ms: Distribution;
  tpot_ms: Distribution;
  itl_ms: Distribution;
  e2e_latency_ms: Distribution;
  peak_concurrency: number;
  mean_concurrency: number;
  /** Completed requests per second that met every SLO given (null without --slo). */
  goodput: number | null;
  /** Prompt tokens the prefix cache supplied, and their share of all prompt tokens (null when the target does not say). */
  cached_tokens: number | null;
  cache_hit_rate: number | null;
  /** Client TTFT less the server's own TTFT, per request that reported it: network and HTTP (null when the server does not say). */
  transport_ms: Distribution | null;
  /** TTFT and TPOT of the run's first half against its second (a run not in a steady state shows here); empty for a burst. */
  halves: HalfComparison[];
}

export interface FailureKind {
  /** The reason with its numbers masked, so "prompt has 5000 tokens" and "prompt has 7000 tokens" are one kind. */
  kind: string;
  count: number;
  /** One of the messages as the server or engine gave it. */
  example: string;
}

const KIND_CHARS = 160;

/** The kind of a failure message: numbers (lengths, ids, ports, durations) masked as N but an HTTP status kept, whitespace collapsed, bounded. */
export function failureKind(message: string): string {
  const status = /^HTTP \d{3}\b/.exec(message)?.[0] ?? '';
  const kind =
    status +
    message
      .slice(status.length)
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, 'ID')
      .replace(/\d+(\.\d+)?/g, 'N')
      .replace(/\s+/g, ' ')
      .trim();
  return kind.length > KIND_CHARS ? `${kind.slice(0, KIND_CHARS - 1)}…` : kind;
}

/** Failed outcomes grouped by kind, with a count and the first message of each. */
export function groupFailures(outcomes: readonly RequestOutcome[]): FailureKind[] {
  const kinds = new Map<string, FailureKind>();
  for (const o of outcomes) {
    if (o.error === null) continue;
    const kind = failureKind(o.error);
    const k = kinds.get(kind);
    if (k) k.count++;
    else kinds.set(kind, { kind, count: 1, example: o.error.slice(0, 500) });
  }
  return [...kinds.values()].sort((a, b) => b.count - a.count);
}

function meetsSlo(o: RequestOutcome, slo: Slo): boolean {
  const t = tpotMs(o);
  return (
    (slo.ttftMs === undefined || (o.ttftMs !== null && o.ttftMs <= slo.ttftMs)) &&
    (slo.tpotMs === undefined || t === null || t <= slo.tpotMs) &&
    (slo.e2eMs === undefined || o.e2eMs <= slo.e2eMs)
  );
}

export function summarize(run: BenchRun, slo: Slo | null = null, warmup = 0): BenchMetrics {
  const ok = run.outcomes.filter((o) => o.error === null);
  const seconds = run.durationMs / 1000;
  const input = ok.reduce((a, o) => a + o.inputTokens, 0);
  const output = ok.reduce((a, o) => a + o.outputTokens, 0);
  const told = ok.filter((o) => o.cachedTokens !== null);
  const cached = told.length ? told.reduce((a, o) => a + o.cachedTokens!, 0) : null;
  const toldInput = told.reduce((a, o) => a + o.inputTokens, 0);
  const transport = ok.flatMap((o) => (o.ttftMs !== null && o.serverTtftMs !== null ? [o.ttftMs - o.serverTtftMs] : []));
  return {
    completed: ok.length,
    failed: run.outcomes.length - ok.length,
    failures: groupFailures(run.outcomes),
    warmup,
    duration_s: seconds,
    total_input_tokens: input,
    total_output_tokens: output,
    request_throughput: ok.length / seconds,
    input_throughput: input / seconds,
    output_throughput: output / seconds,
    total_throughput: (input + output) / seconds,
    ttft_ms: distribution(ok.flatMap((o) => (o.ttftMs === null ? [] : [o.ttftMs]))),
    tpot_ms: distribution(ok.flatMap((o) => tpotMs(o) ?? [])),
    itl_ms: distribution(ok.flatMap((o) => o.itlMs)),
    e2e_latency_ms: distribution(ok.map((o) => o.e2eMs)),
    peak_concurrency: run.peakConcurrency,
    mean_concurrency: run.meanConcurrency,
    goodput: slo ? ok.filter((o) => meetsSlo(o, slo)).length / seconds : null,
    cached_tokens: cached,
    cache_hit_rate: cached === null || toldInput === 0 ? null : cached / toldInput,
    transport_ms: transport.length ? distribution(transport) : null,
    // A burst is queued by design (later requests wait longer): only a run with arrivals or a concurrency cap has a steady state to check.
    halves: run.burst ? [] : compareHalves(run.outcomes),
  };
}

/** The flat field names of SGLang's bench_serving JSON (mean_ttft_ms, p99_e2e_latency_ms, ...). */
export function benchServingFields(m: BenchMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of ['ttft', 'tpot', 'itl', 'e2e_latency'] as const) {
    const d = m[`${key}_ms`];
    for (const [stat, v] of Object.entries(d)) out[`${stat}_${key}_ms`] = v;
  }
  return out;
}
