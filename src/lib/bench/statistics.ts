import type { BenchRun, RequestOutcome } from './driver.js';

export interface Distribution {
  mean: number;
  median: number;
  std: number;
  p90: number;
  p95: number;
  p99: number;
}

export interface Slo {
  ttftMs?: number;
  tpotMs?: number;
  e2eMs?: number;
}

/** The run's figures, named as SGLang's bench_serving names them. */
export interface BenchMetrics {
  completed: number;
  failed: number;
  /** Failure reasons and how often each occurred. */
  errors: Record<string, number>;
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
}

/** Linear-interpolated percentile of sorted values (numpy's default). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { mean: NaN, median: NaN, std: NaN, p90: NaN, p95: NaN, p99: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  // Population standard deviation, as numpy.std computes it in bench_serving.
  const std = Math.sqrt(sorted.reduce((a, v) => a + (v - mean) ** 2, 0) / sorted.length);
  return { mean, median: percentile(sorted, 50), std, p90: percentile(sorted, 90), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

/** Time per output token after the first; undefined for single-token outputs. */
export function tpot(o: RequestOutcome): number | undefined {
  return o.ttftMs !== null && o.outputTokens > 1 ? (o.e2eMs - o.ttftMs) / (o.outputTokens - 1) : undefined;
}

function meetsSlo(o: RequestOutcome, slo: Slo): boolean {
  const t = tpot(o);
  return (slo.ttftMs === undefined || (o.ttftMs !== null && o.ttftMs <= slo.ttftMs))
    && (slo.tpotMs === undefined || t === undefined || t <= slo.tpotMs)
    && (slo.e2eMs === undefined || o.e2eMs <= slo.e2eMs);
}

export function summarize(run: BenchRun, slo: Slo | null = null): BenchMetrics {
  const ok = run.outcomes.filter((o) => o.error === null);
  const errors: Record<string, number> = {};
  for (const o of run.outcomes) if (o.error !== null) errors[o.error] = (errors[o.error] ?? 0) + 1;
  const seconds = run.durationMs / 1000;
  const input = ok.reduce((a, o) => a + o.inputTokens, 0);
  const output = ok.reduce((a, o) => a + o.outputTokens, 0);
  return {
    completed: ok.length,
    failed: run.outcomes.length - ok.length,
    errors,
    duration_s: seconds,
    total_input_tokens: input,
    total_output_tokens: output,
    request_throughput: ok.length / seconds,
    input_throughput: input / seconds,
    output_throughput: output / seconds,
    total_throughput: (input + output) / seconds,
    ttft_ms: distribution(ok.flatMap((o) => (o.ttftMs === null ? [] : [o.ttftMs]))),
    tpot_ms: distribution(ok.flatMap((o) => tpot(o) ?? [])),
    itl_ms: distribution(ok.flatMap((o) => o.itlMs)),
    e2e_latency_ms: distribution(ok.map((o) => o.e2eMs)),
    peak_concurrency: run.peakConcurrency,
    mean_concurrency: run.meanConcurrency,
    goodput: slo ? ok.filter((o) => meetsSlo(o, slo)).length / seconds : null,
  };
}

/** Mean and the half-width of its 95% confidence interval (t-distribution for small samples). */
export function meanCi(values: readonly number[]): { mean: number; ci95: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci95: NaN };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const T = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262];
  return { mean, ci95: ((T[n - 2] ?? 1.96) * sd) / Math.sqrt(n) };
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
