import type { KeepRule } from './keep_rules.js';
import { otlpTarget } from './otlp_config.js';
import type { OtlpProtocol, OtlpTarget } from './otlp_config.js';
import type { TraceModule } from './stages.js';
import type { TraceLevel } from './trace_config.js';
import { Tracing } from './tracing.js';
import type { TraceExporter } from './tracing.js';

/** What a run asks of tracing: the tracing flags every command shares, as plain values. */
export interface TracingSetup {
  level: TraceLevel;
  modules: readonly TraceModule[];
  sampleRate: number;
  /** A trace file to capture into. */
  traceFile?: string;
  includeContent: boolean;
  /** An OTLP collector for spans; the OTEL_* environment's when absent. */
  otlpEndpoint?: string;
  /** An OTLP collector for the GenAI metrics; OTEL_EXPORTER_OTLP_METRICS_ENDPOINT's when absent. */
  otlpMetricsEndpoint?: string;
  /** The OTLP protocol for both; the OTEL_* environment's, or inferred from the endpoint, when absent. */
  otlpProtocol?: OtlpProtocol;
  /** Tail-based sampling rules (--trace-keep); every request is exported when absent. */
  keep?: readonly KeepRule[];
}

/** Where the setup's spans and metrics go over OTLP (null: nowhere), flags over the OTEL_* environment. */
export function otlpTargets(setup: Pick<TracingSetup, 'otlpEndpoint' | 'otlpMetricsEndpoint' | 'otlpProtocol'>): {
  traces: OtlpTarget | null;
  metrics: OtlpTarget | null;
} {
  return {
    traces: otlpTarget('traces', { endpoint: setup.otlpEndpoint, protocol: setup.otlpProtocol }),
    metrics: otlpTarget('metrics', { endpoint: setup.otlpMetricsEndpoint, protocol: setup.otlpProtocol }),
  };
}

/**
 * Builds the tracing hub a setup asks for, the same for every command; the
 * file writer and the OTLP exporters are loaded only when used. Exporters
 * are set up even at level 0, since a server's level can be raised while it
 * runs. A metrics endpoint turns the metrics on.
 */
export async function createTracing(setup: TracingSetup, extra: { metrics?: boolean; exporters?: TraceExporter[] } = {}): Promise<Tracing> {
  const otlp = otlpTargets(setup);
  const tracing = new Tracing({
    level: setup.level,
    modules: [...setup.modules],
    sampleRate: setup.sampleRate,
    metrics: (extra.metrics ?? false) || otlp.metrics !== null,
    includeContent: setup.includeContent,
    exporters: [...(extra.exporters ?? [])],
    ...(setup.keep ? { keep: setup.keep } : {}),
  });
  if (setup.traceFile) {
    const { TraceFileWriter } = await import('./trace_file/writer.js');
    tracing.addExporter(new TraceFileWriter(setup.traceFile));
  }
  if (otlp.traces) {
    const { OtlpThreadExporter } = await import('./exporters/otlp_threaded.js');
    tracing.addExporter(await OtlpThreadExporter.start(otlp.traces, tracing.metrics));
  }
  if (otlp.metrics && tracing.metrics) {
    const { createOtlpMetricsExporter } = await import('./exporters/otlp_metrics.js');
    tracing.addMetricsExporter(await createOtlpMetricsExporter(otlp.metrics, tracing.metrics));
  }
  return tracing;
}
