import { Histogram } from './histogram.js';

/** The GenAI semantic conventions' model-server histograms, with the bucket boundaries they advise (seconds). */
export const GEN_AI_SERVER_METRICS = {
  'gen_ai.server.request.duration': {
    description: 'Generative AI server request duration such as time-to-last byte or last output token.',
    buckets: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
  },
  'gen_ai.server.time_to_first_token': {
    description: 'Time to generate first token for successful responses.',
    buckets: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0],
  },
  'gen_ai.server.time_per_output_token': {
    description: 'Time per output token generated after the first token for successful responses.',
    buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5],
  },
} as const;

export type GenAiMetricName = keyof typeof GEN_AI_SERVER_METRICS;
const NAMES = Object.keys(GEN_AI_SERVER_METRICS) as GenAiMetricName[];

/** The histograms of one attribute set: an operation, and the error it ended with (none for successes). */
export interface GenAiSeries {
  operation: string;
  errorType: string | null;
  histograms: Record<GenAiMetricName, Histogram>;
}

/**
 * The GenAI server metrics, kept per attribute set as cumulative histograms.
 * One observation per request, when it ends (never per token); exporting
 * them reads these counts, so the request path pays once whatever exports.
 */
export class GenAiMetrics {
  private readonly series = new Map<string, GenAiSeries>();

  /** `ttft` and `tpot` in seconds, null where they do not apply; they count only for successes, as the conventions say. */
  observe(operation: string, errorType: string | null, duration: number, ttft: number | null, tpot: number | null): void {
    const key = errorType === null ? operation : `${operation}\u0000${errorType}`;
    let s = this.series.get(key);
    if (!s) {
      const histograms = Object.fromEntries(NAMES.map((n) => [n, new Histogram(GEN_AI_SERVER_METRICS[n].buckets)])) as Record<GenAiMetricName, Histogram>;
      this.series.set(key, (s = { operation, errorType, histograms }));
    }
    s.histograms['gen_ai.server.request.duration'].observe(duration);
    if (errorType !== null) return;
    if (ttft !== null) s.histograms['gen_ai.server.time_to_first_token'].observe(ttft);
    if (tpot !== null) s.histograms['gen_ai.server.time_per_output_token'].observe(tpot);
  }

  all(): IterableIterator<GenAiSeries> {
    return this.series.values();
  }
}
