import { otlpEndpointFromEnv } from './otlp_endpoint.js';
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
  /** An OTLP/gRPC collector; the OTEL_* environment's when absent. */
  otlpEndpoint?: string;
}

/**
 * Builds the tracing hub a setup asks for, the same for every command; the
 * file writer and the OTLP exporter are loaded only when used. Exporters
 * are set up even at level 0, since a server's level can be raised while it
 * runs.
 */
export async function createTracing(setup: TracingSetup, extra: { metrics?: boolean; exporters?: TraceExporter[] } = {}): Promise<Tracing> {
  const tracing = new Tracing({
    level: setup.level,
    modules: [...setup.modules],
    sampleRate: setup.sampleRate,
    metrics: extra.metrics ?? false,
    includeContent: setup.includeContent,
    exporters: [...(extra.exporters ?? [])],
  });
  if (setup.traceFile) {
    const { TraceFileWriter } = await import('./trace_file/writer.js');
    tracing.addExporter(new TraceFileWriter(setup.traceFile));
  }
  const otlp = setup.otlpEndpoint ?? otlpEndpointFromEnv();
  if (otlp) {
    const { createOtlpExporter } = await import('./exporters/otlp_exporter.js');
    tracing.addExporter(await createOtlpExporter(otlp, tracing.metrics));
  }
  return tracing;
}
