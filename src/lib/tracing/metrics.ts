import { GenAiMetrics } from './gen_ai_metrics.js';
import { Histogram, exponentialBuckets } from './histogram.js';
import { serviceInstanceId } from './otel_resource.js';
import { STAGES } from './stages.js';

// SGLang's bucket boundaries, so existing dashboards work unchanged.
const STAGE_BUCKETS = exponentialBuckets(0.001, 1.62, 30);
const TTFT_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400];
const ITL_BUCKETS = [0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8];
const E2E_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 800];
const QUEUE_BUCKETS = [
  0, 0.1, 0.2, 0.5, 1, 2, 3, 4, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
  2500, 3000,
];

/**
 * sgl's metrics under SGLang's names: per-stage latency histograms fed by
 * the same timestamps as the spans, and the request-level histograms,
 * counters and gauges. Observations are plain arithmetic; rendering the
 * Prometheus text happens only when someone scrapes.
 */
export class EngineMetrics {
  /** Indexed by stage id; only stages that feed metrics have one. */
  readonly stageLatency: (Histogram | null)[] = STAGES.map((s) => (s.metric ? new Histogram(STAGE_BUCKETS) : null));
  readonly ttft = new Histogram(TTFT_BUCKETS);
  readonly interToken = new Histogram(ITL_BUCKETS);
  readonly e2e = new Histogram(E2E_BUCKETS);
  readonly queueTime = new Histogram(QUEUE_BUCKETS);
  promptTokens = 0;
  /** Prompt tokens whose KV came from the prefix cache. */
  cachedPromptTokens = 0;
  /** KV tokens held by the running batch and by the prefix cache, and the budget they share. */
  kvTokens = 0;
  cacheTokens = 0;
  maxTotalTokens = 0;
  generationTokens = 0;
  requests = 0;
  abortedRequests = 0;
  running = 0;
  queued = 0;
  droppedSpans = 0;
  /** The GenAI semantic-convention histograms, for OTLP metric export. */
  readonly genAi = new GenAiMetrics();
  /** When counting began (epoch ms): the start of every cumulative series. */
  readonly startedAt = Date.now();

  /** Every series carries the process's service.instance.id, so replicas behind one balancer tell apart wherever the scrape lands. */
  readonly instanceId = serviceInstanceId();

  constructor(public modelName: string) {}

  observeStage(stageId: number, seconds: number): void {
    this.stageLatency[stageId]?.observe(seconds);
  }

  /** Prometheus text exposition format, version 0.0.4. */
  render(): string {
    // `instance_id`, not `instance`: Prometheus sets `instance` itself (the scrape address) and would rename ours.
    const label = `model_name="${escapeLabel(this.modelName)}",instance_id="${escapeLabel(this.instanceId)}"`;
    const out: string[] = [];
    const histogram = (name: string, help: string, rows: { labels: string; h: Histogram }[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const { labels, h } of rows) {
        let cumulative = 0;
        h.bounds.forEach((le, i) => {
          cumulative += h.counts[i];
          out.push(`${name}_bucket{${labels},le="${le}"} ${cumulative}`);
        });
        out.push(`${name}_bucket{${labels},le="+Inf"} ${h.count}`, `${name}_sum{${labels}} ${h.sum}`, `${name}_count{${labels}} ${h.count}`);
      }
    };
    const scalar = (type: 'counter' | 'gauge', name: string, help: string, value: number): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}{${label}} ${value}`);
    };
    histogram(
      'sglang:per_stage_req_latency_seconds',
      'The latency of each stage of requests.',
      STAGES.flatMap((s) => {
        const h = this.stageLatency[s.id];
        return h ? [{ labels: `${label},stage="${s.name}"`, h }] : [];
      }),
    );
    histogram('sglang:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', [{ labels: label, h: this.ttft }]);
    histogram('sglang:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', [{ labels: label, h: this.interToken }]);
    histogram('sglang:e2e_request_latency_seconds', 'Histogram of End-to-end request latency in seconds', [{ labels: label, h: this.e2e }]);
    histogram('sglang:queue_time_seconds', 'Histogram of queueing time in seconds.', [{ labels: label, h: this.queueTime }]);
    scalar('counter', 'sglang:prompt_tokens_total', 'Number of prefill tokens processed.', this.promptTokens);
    scalar('counter', 'sglang:cached_tokens_total', 'Number of prompt tokens whose KV came from the prefix cache.', this.cachedPromptTokens);
    scalar(
      'gauge',
      'sglang:cache_hit_rate',
      'The prefix cache hit rate: cached prompt tokens over all prompt tokens.',
      this.promptTokens ? this.cachedPromptTokens / this.promptTokens : 0,
    );
    scalar(
      'gauge',
      'sglang:token_usage',
      'The token usage: KV tokens held by running requests and the prefix cache over the budget.',
      this.maxTotalTokens ? (this.kvTokens + this.cacheTokens) / this.maxTotalTokens : 0,
    );
    scalar('counter', 'sglang:generation_tokens_total', 'Number of generation tokens processed.', this.generationTokens);
    scalar('counter', 'sglang:num_requests_total', 'Number of requests processed.', this.requests);
    scalar('counter', 'sglang:num_aborted_requests_total', 'Number of requests aborted.', this.abortedRequests);
    scalar('gauge', 'sglang:num_running_reqs', 'The number of running requests.', this.running);
    scalar('gauge', 'sglang:num_queue_reqs', 'The number of requests in the waiting queue.', this.queued);
    scalar('counter', 'sgl:dropped_spans_total', 'Spans an exporter could not deliver.', this.droppedSpans);
    return out.join('\n') + '\n';
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
