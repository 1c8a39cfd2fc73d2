import type { HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { AggregationTemporality, DataPointType, HistogramMetricData, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { now } from '../clock.js';
import { GEN_AI_SERVER_METRICS } from '../gen_ai_metrics.js';
import type { GenAiMetricName } from '../gen_ai_metrics.js';
import type { EngineMetrics } from '../metrics.js';
import type { OtlpProtocol, OtlpTarget } from '../otlp_config.js';
import type { MetricsExporter } from '../tracing.js';
import { SGL_VERSION } from '../../version.js';
import { loadOtelPackage } from './otlp_exporter.js';

// Numeric values of sdk-metrics' enums (imported as types only: the SDK is not loaded).
const CUMULATIVE = 1 as AggregationTemporality.CUMULATIVE;
const HISTOGRAM = 0 as DataPointType.HISTOGRAM;
const DOUBLE = 1;
/** The GenAI conventions' `gen_ai.provider.name` for a model served by sgl (no well-known value applies). */
export const GEN_AI_PROVIDER = 'sgl';

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/** The GenAI server histograms as OTLP metric data: cumulative since the metrics began, one point per attribute set. */
export function genAiResourceMetrics(metrics: EngineMetrics, resource: Resource, at: number = Date.now()): ResourceMetrics {
  const series = [...metrics.genAi.all()];
  const data = (Object.keys(GEN_AI_SERVER_METRICS) as GenAiMetricName[]).map((name): HistogramMetricData => ({
    descriptor: { name, description: GEN_AI_SERVER_METRICS[name].description, unit: 's', valueType: DOUBLE },
    aggregationTemporality: CUMULATIVE,
    dataPointType: HISTOGRAM,
    dataPoints: series
      .filter((s) => s.histograms[name].count > 0)
      .map((s) => {
        const h = s.histograms[name];
        return {
          startTime: hr(metrics.startedAt),
          endTime: hr(at),
          attributes: {
            'gen_ai.operation.name': s.operation,
            'gen_ai.provider.name': GEN_AI_PROVIDER,
            'gen_ai.request.model': metrics.modelName,
            'gen_ai.response.model': metrics.modelName,
            ...(s.errorType === null ? {} : { 'error.type': s.errorType }),
          },
          value: { buckets: { boundaries: [...h.bounds], counts: [...h.counts] }, sum: h.sum, count: h.count },
        };
      }),
  }));
  return { resource, scopeMetrics: [{ scope: { name: 'sgl', version: SGL_VERSION }, metrics: data.filter((d) => d.dataPoints.length > 0) }] };
}

/**
 * Pushes the GenAI server metrics over OTLP on a timer that never keeps
 * the process alive (OTEL_METRIC_EXPORT_INTERVAL, default 60 s), and once
 * more at shutdown. A failed push is reported once; the next one carries
 * the same cumulative counts, so nothing is lost by it.
 */
export class OtlpMetricsExporter implements MetricsExporter {
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> | null = null;
  private warned = false;
  /** Pushes the collector accepted. */
  sent = 0;

  constructor(
    private readonly exporter: PushMetricExporter,
    private readonly resource: Resource,
    private readonly metrics: EngineMetrics,
    readonly destination: string,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.push(), intervalMs);
    this.timer.unref();
  }

  private push(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const data = genAiResourceMetrics(this.metrics, this.resource);
    if (data.scopeMetrics[0].metrics.length === 0) return Promise.resolve();
    this.inFlight = new Promise<void>((resolve) => {
      this.exporter.export(data, (result) => {
        if (result.code === 0) this.sent++;
        else if (!this.warned) {
          this.warned = true;
          process.emitWarning(
            `sgl: metrics to ${this.destination} were not delivered (${result.error?.message ?? 'export failed'}); later pushes carry the same cumulative counts.`,
          );
        }
        resolve();
      });
    }).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  async flush(): Promise<void> {
    await this.inFlight;
    await this.push();
  }

  async shutdown(deadline = Infinity): Promise<void> {
    clearInterval(this.timer);
    const last = this.flush().then(() => this.exporter.shutdown());
    if (deadline === Infinity) return last;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([last, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - now()))))]);
    clearTimeout(timer);
  }
}

type MetricExporterClass = new (config: { url: string; timeoutMillis: number }) => PushMetricExporter;

/** The official OTLP metric exporter per protocol, each loaded only when asked for. */
const METRIC_EXPORTERS: Record<OtlpProtocol, { pkg: string; load: () => Promise<{ OTLPMetricExporter: MetricExporterClass }> }> = {
  grpc: { pkg: '@opentelemetry/exporter-metrics-otlp-grpc', load: () => import('@opentelemetry/exporter-metrics-otlp-grpc') },
  'http/protobuf': { pkg: '@opentelemetry/exporter-metrics-otlp-proto', load: () => import('@opentelemetry/exporter-metrics-otlp-proto') },
  'http/json': { pkg: '@opentelemetry/exporter-metrics-otlp-http', load: () => import('@opentelemetry/exporter-metrics-otlp-http') },
};

/** The GenAI metrics' OTLP exporter for a target; the interval from OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000). */
export async function createOtlpMetricsExporter(target: OtlpTarget, metrics: EngineMetrics): Promise<OtlpMetricsExporter> {
  const { pkg, load } = METRIC_EXPORTERS[target.protocol];
  const { module, resource } = await loadOtelPackage(pkg, load, `OTLP ${target.protocol} metric export`);
  const interval = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL);
  const exporter = new module.OTLPMetricExporter({ url: target.url, timeoutMillis: 10000 });
  return new OtlpMetricsExporter(
    exporter,
    resource,
    metrics,
    `the OTLP collector at ${target.url} (${target.protocol})`,
    Number.isFinite(interval) && interval > 0 ? interval : 60000,
  );
}
