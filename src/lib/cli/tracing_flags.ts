import { Errors, Flags } from '@oclif/core';
import { KEEP_RULE_HELP, parseKeepRules } from '../tracing/keep_rules.js';
import type { KeepRule } from '../tracing/keep_rules.js';
import { OTLP_PROTOCOLS } from '../tracing/otlp_config.js';
import type { OtlpProtocol } from '../tracing/otlp_config.js';
import { MODULE_NAMES } from '../tracing/stages.js';
import type { TraceModule } from '../tracing/stages.js';
import { parseModules } from '../tracing/trace_config.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import type { TraceExporter, Tracing } from '../tracing/tracing.js';
import { createTracing } from '../tracing/tracing_setup.js';
import type { TracingSetup } from '../tracing/tracing_setup.js';
import { numberFlag } from './number_flag.js';

/** A flag value parsed by `parse`, whose error becomes oclif's usage error (exit 2). */
function usage<T>(parse: (input: string) => T, input: string): T {
  try {
    return parse(input);
  } catch (err) {
    throw new Errors.CLIError((err as Error).message, { exit: 2 });
  }
}

/** `--trace-module`'s value: a bad name is a usage error. */
export const parseModuleFlag = async (input: string): Promise<TraceModule[]> => usage(parseModules, input);

/** Tracing flags, the same on every command; `defaultLevel` is the command's own. */
export function tracingFlags(defaultLevel: TraceLevel) {
  return {
    'trace-level': Flags.integer({
      min: 0,
      max: 3,
      default: defaultLevel,
      description: '0 off, 1 important stages, 2 all but nested ones, 3 everything (each decode step).',
      helpGroup: 'TRACING',
    }),
    'trace-module': Flags.custom<TraceModule[]>({
      description: `Comma-separated trace modules: ${MODULE_NAMES.join(', ')} (default: request).`,
      helpGroup: 'TRACING',
      parse: parseModuleFlag,
    })(),
    'trace-sample-rate': numberFlag({
      min: 0,
      max: 1,
      default: 1,
      description: 'Fraction of requests traced; metrics still see every request.',
      helpGroup: 'TRACING',
    }),
    'trace-keep': Flags.custom<KeepRule[]>({
      description: `Tail-based sampling: record every request, export (file, OTLP) only those a rule keeps: ${KEEP_RULE_HELP}. Metrics still count every request.`,
      helpGroup: 'TRACING',
      parse: async (input) => usage(parseKeepRules, input),
    })(),
    'trace-file': Flags.string({
      description: 'Write a trace file (Chrome Trace Event JSON: opens in Perfetto, replays with sgl replay).',
      helpGroup: 'TRACING',
    }),
    'trace-include-content': Flags.boolean({ description: 'Put prompt and output text and input token ids in the trace file.', helpGroup: 'TRACING' }),
    ...otlpFlags(),
    'otlp-metrics-endpoint': Flags.string({
      description:
        'Export the GenAI server metrics over OTLP to this collector (default: $OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, or $OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_METRICS_EXPORTER=otlp).',
      helpGroup: 'TRACING',
    }),
  };
}

/** Where spans go over OTLP, and how: shared with `sgl trace export`. */
export function otlpFlags() {
  return {
    'otlp-traces-endpoint': Flags.string({
      description:
        'Export spans over OTLP to this collector (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or $OTEL_EXPORTER_OTLP_ENDPOINT plus /v1/traces over HTTP).',
      helpGroup: 'TRACING',
    }),
    'otlp-protocol': Flags.option({
      options: OTLP_PROTOCOLS,
      description:
        'OTLP protocol (default: $OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / _METRICS_PROTOCOL / $OTEL_EXPORTER_OTLP_PROTOCOL; else http/protobuf for port 4318 or a /v1/ path, grpc otherwise).',
      helpGroup: 'TRACING',
    })(),
  };
}

export interface TracingFlagValues {
  'trace-level': number;
  'trace-module'?: TraceModule[];
  'trace-sample-rate': number;
  'trace-keep'?: KeepRule[];
  'trace-file'?: string;
  'trace-include-content': boolean;
  'otlp-traces-endpoint'?: string;
  'otlp-metrics-endpoint'?: string;
  'otlp-protocol'?: OtlpProtocol;
}

/** The tracing flags as the plain setup lib/ takes. */
export function tracingSetup(flags: TracingFlagValues): TracingSetup {
  return {
    level: flags['trace-level'] as TraceLevel,
    modules: flags['trace-module'] ?? ['request'],
    sampleRate: flags['trace-sample-rate'],
    traceFile: flags['trace-file'],
    includeContent: flags['trace-include-content'],
    otlpEndpoint: flags['otlp-traces-endpoint'],
    otlpMetricsEndpoint: flags['otlp-metrics-endpoint'],
    otlpProtocol: flags['otlp-protocol'],
    ...(flags['trace-keep'] ? { keep: flags['trace-keep'] } : {}),
  };
}

/** Builds the tracing hub the flags ask for (see createTracing). */
export function tracingFromFlags(flags: TracingFlagValues, extra: { metrics?: boolean; exporters?: TraceExporter[] } = {}): Promise<Tracing> {
  return createTracing(tracingSetup(flags), extra);
}
