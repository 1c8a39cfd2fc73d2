import type { RequestTiming } from '../protocol.js';

/**
 * vLLM's per-request metrics (`include_metrics: true`, served with
 * `--enable-per-request-metrics`), with its field names and meanings:
 * TTFT and generation time from the request's arrival, the time it waited
 * in the queue, the mean gap between its output tokens, and its output
 * tokens per second of generation time.
 */
export interface PerRequestMetrics {
  time_to_first_token_ms: number;
  generation_time_ms: number;
  queue_time_ms: number;
  mean_itl_ms: number;
  tokens_per_second: number;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * The metrics of a request from its choices' own timing (the records
 * include_timing returns) and output token counts. With several choices
 * (`n`), the request's first token is the earliest, its generation ends
 * with the last choice, and the inter-token gap is averaged over every
 * choice's gaps. Null when no choice has its timing (it was aborted).
 */
export function perRequestMetrics(timings: readonly (RequestTiming | undefined)[], tokens: readonly number[]): PerRequestMetrics | null {
  let ttft = Infinity;
  let end = 0;
  let queue = Infinity;
  let gapsMs = 0;
  let gaps = 0;
  let total = 0;
  timings.forEach((t, i) => {
    if (!t) return;
    const n = tokens[i];
    total += n;
    end = Math.max(end, t.e2e_ms);
    queue = Math.min(queue, t.queue_ms);
    if (t.ttft_ms === null) return;
    ttft = Math.min(ttft, t.ttft_ms);
    if (n > 1) {
      gapsMs += t.e2e_ms - t.ttft_ms;
      gaps += n - 1;
    }
  });
  if (end === 0 && total === 0) return null;
  return {
    time_to_first_token_ms: round(Number.isFinite(ttft) ? ttft : end),
    generation_time_ms: round(end),
    queue_time_ms: round(Number.isFinite(queue) ? queue : 0),
    mean_itl_ms: round(gaps ? gapsMs / gaps : 0),
    tokens_per_second: round(end > 0 ? (total * 1000) / end : 0),
  };
}
