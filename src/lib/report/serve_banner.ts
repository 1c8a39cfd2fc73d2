import type { Engine } from '../engine/engine.js';
import type { Tracing } from '../tracing/tracing.js';
import { otlpTargets } from '../tracing/tracing_setup.js';
import type { TracingSetup } from '../tracing/tracing_setup.js';

/** What sgl serve prints once it listens: where, the model, tracing and where its data goes. */
export function serveBanner(url: string, engine: Engine, tracing: Tracing, setup: TracingSetup, levelWhy: string, metrics: boolean): string {
  const targets = otlpTargets(setup);
  const tracingLine =
    setup.level === 0
      ? 'off (raise it with POST /set_trace_level?level=N)'
      : `level ${setup.level}${levelWhy}, modules ${setup.modules.join(',')}, sample rate ${setup.sampleRate}`;
  const fromEnv = (what: 'traces' | 'metrics'): string => (targets[what]?.from === 'environment' ? ' (from OTEL_EXPORTER_OTLP_*)' : '');
  const otlp = targets.traces;
  const exporters = [
    ...(setup.traceFile ? [`trace file ${setup.traceFile}`] : []),
    ...(otlp ? [`spans over OTLP ${otlp.protocol} to ${otlp.url}${fromEnv('traces')}`] : []),
    ...tracing.metricsDestinations.map((d) => `GenAI metrics to ${d}${fromEnv('metrics')}`),
  ];
  const auto = engine.info.deviceWhy ? ` (auto: ${engine.info.deviceWhy})` : '';
  return [
    `sgl serve listening on ${url}`,
    `  model    ${engine.spec.id} (${engine.spec.dir}) on ${engine.device}${auto}, ${engine.info.kvLayout} KV layout (${engine.info.kvType === 'float16' ? 'fp16' : 'fp32'})`,
    `  tracing  ${tracingLine}`,
    `  export   ${exporters.length ? exporters.join('; ') : 'none'}`,
    ...(metrics ? [`  metrics  ${url}/metrics`] : []),
  ].join('\n');
}
