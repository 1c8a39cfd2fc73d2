import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { GEN_AI_SERVER_METRICS } from '../../src/lib/tracing/gen_ai_metrics.js';
import { otlpTarget } from '../../src/lib/tracing/otlp_config.js';
import { createTracing } from '../../src/lib/tracing/tracing_setup.js';
import { OtlpReceiver } from '../helpers/otlp_receiver.js';

const OTEL_VARS = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
  'OTEL_METRICS_EXPORTER',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_SERVICE_NAME',
];

/** Runs three requests (one chat) through an engine traced as the OTEL_* environment says, and shuts it all down. */
async function serveWith(env: Record<string, string>): Promise<void> {
  Object.assign(process.env, env);
  const tracing = await createTracing({ level: 1, modules: ['request'], sampleRate: 1, includeContent: false });
  const engine = await Engine.create({ tracing });
  const run = async (req: Parameters<Engine['generate']>[0]): Promise<void> => {
    for await (const c of await engine.generate(req)) void c;
  };
  await Promise.all([
    run({ prompt: 'Hello there', sampling: { maxTokens: 4, ignoreEos: true } }),
    run({ prompt: 'Another one', sampling: { maxTokens: 2, ignoreEos: true } }),
    run({ messages: [{ role: 'user', content: 'Hi' }], sampling: { maxTokens: 3, ignoreEos: true } }),
  ]);
  await engine.shutdown();
  await tracing.shutdown();
}

describe('OpenTelemetry configured by its environment variables', () => {
  afterEach(() => {
    for (const v of OTEL_VARS) delete process.env[v];
  });

  it('resolves endpoints and protocols as the OpenTelemetry SDKs do', () => {
    expect(otlpTarget('traces', {}, {})).toBeNull();
    expect(otlpTarget('traces', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toEqual({
      protocol: 'http/protobuf',
      url: 'http://c:4318/v1/traces',
      from: 'environment',
    });
    expect(otlpTarget('traces', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' })).toMatchObject({ protocol: 'grpc', url: 'http://c:4317' });
    expect(otlpTarget('traces', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:9000/', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toMatchObject({
      protocol: 'http/json',
      url: 'http://c:9000/v1/traces',
    });
    // A signal's own endpoint is used as it is.
    expect(
      otlpTarget('traces', {}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:9000/custom', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }),
    ).toMatchObject({ url: 'http://c:9000/custom' });
    // Metrics take the shared endpoint only when OTEL_METRICS_EXPORTER asks for otlp.
    expect(otlpTarget('metrics', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeNull();
    expect(otlpTarget('metrics', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'otlp' })).toMatchObject({
      url: 'http://c:4318/v1/metrics',
    });
    expect(otlpTarget('traces', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
    expect(otlpTarget('metrics', {}, { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:4318/v1/metrics', OTEL_METRICS_EXPORTER: 'none' })).toBeNull();
    expect(otlpTarget('traces', { endpoint: 'http://f:4317' }, { OTEL_TRACES_EXPORTER: 'none' })).toMatchObject({ url: 'http://f:4317' });
    // Flags win; a flag without a path is a base URL over HTTP.
    expect(otlpTarget('traces', { endpoint: 'http://f:4318', protocol: 'http/json' }, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://e:4317' })).toEqual({
      protocol: 'http/json',
      url: 'http://f:4318/v1/traces',
      from: 'flag',
    });
    expect(() => otlpTarget('traces', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' })).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL=thrift is not an OTLP protocol; use one of grpc, http\/protobuf, http\/json/,
    );
  });

  it('sends spans and GenAI metrics over OTLP/HTTP protobuf, with the resource attributes', async () => {
    const receiver = await OtlpReceiver.startHttp();
    try {
      await serveWith({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_SERVICE_NAME: 'sgl-http',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=infra%20ops',
      });
      expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/x-protobuf']));
      const roots = receiver.spans.filter((s) => s.attributes['gen_ai.operation.name'] !== undefined);
      expect(roots).toHaveLength(3);
      expect(roots[0].attributes['gen_ai.provider.name']).toBe('sgl');
      expect(roots[0].attributes['gen_ai.system']).toBeUndefined();
      expect(roots[0].resource).toMatchObject({ 'service.name': 'sgl-http', 'deployment.environment.name': 'test', team: 'infra ops' });
      expect(roots[0].resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);

      const byName = new Map(receiver.metrics.map((m) => [m.name, m]));
      expect([...byName.keys()].sort()).toEqual(Object.keys(GEN_AI_SERVER_METRICS).sort());
      for (const [name, def] of Object.entries(GEN_AI_SERVER_METRICS)) {
        const m = byName.get(name)!;
        expect(m.unit).toBe('s');
        expect(m.resource['service.instance.id']).toBe(roots[0].resource['service.instance.id']);
        for (const p of m.points) expect(p.bounds).toEqual([...def.buckets]);
      }
      const duration = byName.get('gen_ai.server.request.duration')!;
      const ops = Object.fromEntries(duration.points.map((p) => [p.attributes['gen_ai.operation.name'], p.count]));
      expect(ops).toEqual({ text_completion: 2, chat: 1 });
      expect(duration.points[0].attributes).toMatchObject({ 'gen_ai.provider.name': 'sgl', 'gen_ai.request.model': 'sgl-llama-tiny' });
      // Time per output token: every request made more than one token.
      const tpot = byName.get('gen_ai.server.time_per_output_token')!;
      expect(tpot.points.reduce((n, p) => n + p.count, 0)).toBe(3);
      for (const p of tpot.points) expect(p.counts.reduce((a, b) => a + b, 0)).toBe(p.count);
    } finally {
      await receiver.stop();
    }
  });

  it('sends spans as OTLP/HTTP JSON to a signal endpoint', async () => {
    const receiver = await OtlpReceiver.startHttp();
    try {
      await serveWith({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' });
      expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/json']));
      expect(receiver.spans.filter((s) => s.attributes['gen_ai.operation.name'] !== undefined)).toHaveLength(3);
      expect(receiver.spans.every((s) => /^[0-9a-f]{32}$/.test(s.traceId))).toBe(true);
      expect(receiver.metrics).toHaveLength(0);
    } finally {
      await receiver.stop();
    }
  });

  it('sends spans and metrics over gRPC to signal endpoints', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      await serveWith({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_RESOURCE_ATTRIBUTES: 'region=eu',
      });
      expect(receiver.spans.filter((s) => s.attributes['gen_ai.operation.name'] !== undefined)).toHaveLength(3);
      expect(receiver.spans[0].resource).toMatchObject({ region: 'eu', 'service.name': 'sgl' });
      const ttft = receiver.metrics.find((m) => m.name === 'gen_ai.server.time_to_first_token')!;
      expect(ttft.points[0].bounds).toEqual([...GEN_AI_SERVER_METRICS['gen_ai.server.time_to_first_token'].buckets]);
      expect(ttft.points.reduce((n, p) => n + p.count, 0)).toBe(3);
    } finally {
      await receiver.stop();
    }
  });
});
