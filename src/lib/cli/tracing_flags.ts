import { Errors, Flags } from '@oclif/core';
import { MODULE_NAMES } from '../tracing/stages.js';
import type { TraceModule } from '../tracing/stages.js';
import { parseModules } from '../tracing/trace_config.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import { Tracing } from '../tracing/tracing.js';
import type { TraceExporter } from '../tracing/tracing.js';
import { numberFlag } from './number_flag.js';

/** Tracing flags, the same on every command; `defaultLevel` is the command's own. */
export function tracingFlags(defaultLevel: TraceLevel) {
  return {
    'trace-level': Flags.integer({ min: 0, max: 3, default: defaultLevel, description: '0 off, 1 important stages, 2 all but nested ones, 3 everything (each decode step).', helpGroup: 'TRACING' }),
    'trace-module': Flags.custom<TraceModule[]>({
      description: `Comma-separated trace modules: ${MODULE_NAMES.join(', ')} (default: request).`,
      helpGroup: 'TRACING',
      parse: async (input) => {
        try {
          return parseModules(input);
        } catch (err) {
          throw new Errors.CLIError((err as Error).message, { exit: 2 });
        }
      },
    })(),
    'trace-sample-rate': numberFlag({ min: 0, max: 1, default: 1, description: 'Fraction of requests traced; metrics still see every request.', helpGroup: 'TRACING' }),
    'trace-file': Flags.string({ description: 'Write a trace file (Chrome Trace Event JSON: opens in Perfetto, replays with sgl replay).', helpGroup: 'TRACING' }),
    'trace-include-content': Flags.boolean({ description: 'Put prompt and output text and input token ids in the trace file.', helpGroup: 'TRACING' }),
    'otlp-traces-endpoint': Flags.string({ description: 'Export spans over OTLP/gRPC to this collector (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or $OTEL_EXPORTER_OTLP_ENDPOINT when set).', helpGroup: 'TRACING' }),
  };
}

export interface TracingFlagValues {
  'trace-level': number;
  'trace-module'?: TraceModule[];
  'trace-sample-rate': number;
  'trace-file'?: string;
  'trace-include-content': boolean;
  'otlp-traces-endpoint'?: string;
}

/**
 * Builds the tracing hub the flags ask for; the OTLP exporter is loaded only
 * when used. Exporters are set up even at level 0, since a server's level can
 * be raised while it runs.
 */
export async function tracingFromFlags(flags: TracingFlagValues, extra: { metrics?: boolean; exporters?: TraceExporter[] } = {}): Promise<Tracing> {
  const tracing = new Tracing({
    level: flags['trace-level'] as TraceLevel,
    modules: flags['trace-module'] ?? ['request'],
    sampleRate: flags['trace-sample-rate'],
    metrics: extra.metrics ?? false,
    includeContent: flags['trace-include-content'],
    exporters: [...(extra.exporters ?? [])],
  });
  if (flags['trace-file']) {
    const { TraceFileWriter } = await import('../tracing/exporters/trace_file_writer.js');
    tracing.addExporter(new TraceFileWriter(flags['trace-file']));
  }
  const otlp = flags['otlp-traces-endpoint'] ?? process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (otlp) {
    const { createOtlpExporter } = await import('../tracing/exporters/otlp_exporter.js');
    tracing.addExporter(await createOtlpExporter(otlp, tracing.metrics));
  }
  return tracing;
}
