import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { createOtlpExporter } from '../../src/lib/tracing/exporters/otlp_exporter.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import { OtlpReceiver } from '../helpers/otlp_receiver.js';
import { runCli } from '../helpers/cli.js';
import { spanCount } from '../../src/lib/tracing/records.js';
import { syntheticRequest, writeSyntheticCapture } from '../../bench/synthetic_capture.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

describe('OTLP gRPC export', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
  });

  it('delivers one trace per request with the incoming parent, thread spans, slices and GenAI attributes', async () => {
    process.env.OTEL_SERVICE_NAME = 'sgl-test';
    const tracing = new Tracing({ level: 3, modules: ['request'], metrics: true });
    const exporter = await createOtlpExporter({ protocol: 'grpc', url: receiver.url, from: 'flag' }, tracing.metrics);
    tracing.addExporter(exporter);
    const engine = await Engine.create({ tracing });
    const consume = async (traceparent?: string): Promise<void> => {
      for await (const c of await engine.generate(
        { prompt: 'Hello there', sampling: { maxTokens: 4, temperature: 0.5, topP: 0.9, seed: 1, ignoreEos: true } },
        { traceparent },
      ))
        void c;
    };
    await Promise.all([consume(`00-${TRACE_ID}-${PARENT}-01`), consume()]);
    await engine.shutdown();
    await tracing.shutdown();
    delete process.env.OTEL_SERVICE_NAME;

    const spans = receiver.spans;
    const roots = spans.filter((s) => s.attributes['gen_ai.operation.name'] !== undefined);
    expect(roots).toHaveLength(2);
    const root = roots.find((r) => r.traceId === TRACE_ID)!;
    expect(root.parentSpanId).toBe(PARENT);
    expect(root.serviceName).toBe('sgl-test');
    expect(root.name).toBe('text_completion sgl-llama-tiny');
    expect(root.attributes).toMatchObject({
      'gen_ai.operation.name': 'text_completion',
      'gen_ai.request.model': 'sgl-llama-tiny',
      'gen_ai.request.max_tokens': 4,
      'gen_ai.request.temperature': 0.5,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.usage.output_tokens': 4,
      'gen_ai.response.finish_reasons': ['length'],
    });
    expect(root.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    const other = roots.find((r) => r.traceId !== TRACE_ID)!;
    expect(other.parentSpanId).toBe('');

    const trace = spans.filter((s) => s.traceId === TRACE_ID);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    expect(byId.size).toBe(trace.length);
    const threads = trace
      .filter((s) => s.parentSpanId === root.spanId)
      .map((s) => s.name)
      .sort();
    expect(threads).toEqual(['main', 'scheduler']);
    const parentName = (name: string): string[] => [...new Set(trace.filter((s) => s.name === name).map((s) => byId.get(s.parentSpanId)!.name))];
    expect(parentName('tokenize')).toEqual(['main']);
    expect(parentName('respond')).toEqual(['main']);
    expect(parentName('queue_wait')).toEqual(['scheduler']);
    expect(parentName('decode_forward')).toEqual(['decode_loop']);
    expect(parentName('chunked_prefill')).toEqual(['prefill_forward']);
    expect(trace.filter((s) => s.name === 'decode_forward')).toHaveLength(3);
    for (const s of trace) {
      expect(s.endNs).toBeGreaterThanOrEqual(s.startNs);
      if (s !== root) {
        const parent = byId.get(s.parentSpanId)!;
        expect(s.startNs).toBeGreaterThanOrEqual(parent.startNs);
        expect(s.endNs).toBeLessThanOrEqual(parent.endNs);
      }
    }
    const scheduler = trace.find((s) => s.name === 'scheduler')!;
    expect(scheduler.events.map((e) => e.name)).toEqual(expect.arrayContaining(['first_token', 'finish', 'schedule']));
    expect(tracing.metrics!.droppedSpans).toBe(0);
  });

  it('an unreachable collector is a warning; work goes on and dropped spans are counted', async () => {
    const dead = await OtlpReceiver.start();
    const url = dead.url;
    await dead.stop();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    const tracing = new Tracing({ level: 2, metrics: true });
    tracing.addExporter(await createOtlpExporter({ protocol: 'grpc', url, from: 'flag' }, tracing.metrics, { timeoutMs: 500 }));
    const engine = await Engine.create({ tracing });
    let tokens = 0;
    for await (const c of await engine.generate({ prompt: 'Hi', sampling: { maxTokens: 3, ignoreEos: true } })) tokens += c.tokenIds.length;
    await engine.shutdown();
    await tracing.shutdown();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    expect(tokens).toBe(3);
    expect(tracing.metrics!.droppedSpans).toBeGreaterThan(0);
    expect(warnings.filter((w) => w.includes('dropped'))).toHaveLength(1);
    expect(tracing.metrics!.render()).toMatch(/sgl:dropped_spans_total\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} [1-9]/);
  });

  it('trace export delivers every span of a capture of over 100,000, in request order, with the captured ids', async () => {
    const synthetic = { requests: 800, tokens: 20, concurrency: 16 };
    const file = join(mkdtempSync(join(tmpdir(), 'sgl-export-')), 'big.json');
    await writeSyntheticCapture(file, synthetic);
    const expected = Array.from({ length: synthetic.requests }, (_, i) => syntheticRequest(i, synthetic));
    const total = expected.reduce((n, r) => n + spanCount(r), 0);
    expect(total).toBeGreaterThan(100_000);
    receiver.spans.length = 0;
    const r = await runCli(['trace', 'export', file, '--otlp-traces-endpoint', receiver.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ requests: synthetic.requests, spans: total, dropped: 0 });
    expect(receiver.spans).toHaveLength(total);
    // Requests arrive in the order of the capture, each whole before the next, under its captured trace and root span ids.
    const order: string[] = [];
    for (const s of receiver.spans) if (order[order.length - 1] !== s.traceId) order.push(s.traceId);
    expect(order).toEqual(expected.map((x) => x.traceId));
    const roots = receiver.spans.filter((s) => s.parentSpanId === '');
    expect(roots.map((s) => s.spanId)).toEqual(expected.map((x) => x.rootSpanId));
  }, 120_000);
});
