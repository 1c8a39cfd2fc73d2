import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/lib/benchmark/run_bench.js';
import type { BenchOptions } from '../../src/lib/benchmark/run_bench.js';
import { STUB_METRICS, startOpenAiStub } from '../helpers/openai_stub.js';
import type { TestServer } from '../helpers/server.js';
import { post, startServer } from '../helpers/server.js';

/** vLLM's metrics object, field by field: what a client written for vLLM reads. */
const VLLM_FIELDS = ['generation_time_ms', 'mean_itl_ms', 'queue_time_ms', 'time_to_first_token_ms', 'tokens_per_second'];

function expectVllmShape(m: unknown, completionTokens: number): void {
  expect(m).toBeTypeOf('object');
  const metrics = m as Record<string, number>;
  expect(Object.keys(metrics).sort()).toEqual(VLLM_FIELDS);
  for (const k of VLLM_FIELDS) expect(Number.isFinite(metrics[k]) && metrics[k] >= 0).toBe(true);
  // vLLM's meanings: TTFT and generation time from arrival, tokens per second of generation time, the mean gap after the first token.
  expect(metrics.generation_time_ms).toBeGreaterThanOrEqual(metrics.time_to_first_token_ms);
  expect(metrics.time_to_first_token_ms).toBeGreaterThanOrEqual(metrics.queue_time_ms);
  expect(metrics.tokens_per_second).toBeCloseTo((completionTokens * 1000) / metrics.generation_time_ms, 1);
  expect(metrics.mean_itl_ms).toBeCloseTo((metrics.generation_time_ms - metrics.time_to_first_token_ms) / (completionTokens - 1), 2);
}

async function events(url: string, body: object): Promise<Record<string, unknown>[]> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const text = await res.text();
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
}

describe("vLLM's per-request metrics (include_metrics, --enable-per-request-metrics)", () => {
  let s: TestServer;
  let plain: TestServer;
  beforeAll(async () => {
    [s, plain] = await Promise.all([startServer({ enablePerRequestMetrics: true }), startServer()]);
  });
  afterAll(async () => {
    await Promise.all([s.stop(), plain.stop()]);
  });

  it("answers a whole response with vLLM's metrics object beside usage, the choices in OpenAI's shape", async () => {
    const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello, my name is', max_tokens: 6, ignore_eos: true, include_metrics: true }));
    expect(r.status).toBe(200);
    const usage = r.json.usage as { completion_tokens: number };
    expectVllmShape(r.json.metrics, usage.completion_tokens);
    expect((r.json.choices as Record<string, unknown>[])[0].timing).toBeUndefined();
  });

  it('puts them in the last chunk of a stream, with the usage when include_usage asks for it too', async () => {
    const body = { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, ignore_eos: true, include_metrics: true };
    const bare = await events(`${s.url}/v1/chat/completions`, body);
    const last = bare[bare.length - 1];
    expect(last.choices).toEqual([]);
    expect(last.usage).toBeUndefined();
    expectVllmShape(last.metrics, 5);
    expect(bare.slice(0, -1).every((e) => e.metrics === undefined)).toBe(true);
    const withUsage = await events(`${s.url}/v1/chat/completions`, { ...body, stream_options: { include_usage: true } });
    const end = withUsage[withUsage.length - 1];
    expect((end.usage as { completion_tokens: number }).completion_tokens).toBe(5);
    expectVllmShape(end.metrics, 5);
  });

  it('gives both shapes when include_timing and include_metrics are both asked for, from the same records', async () => {
    const r = await post(
      `${s.url}/v1/completions`,
      JSON.stringify({ prompt: 'Hello', max_tokens: 4, ignore_eos: true, include_metrics: true, include_timing: true }),
    );
    const timing = (r.json.choices as { timing: { ttft_ms: number; e2e_ms: number; queue_ms: number } }[])[0].timing;
    const m = r.json.metrics as Record<string, number>;
    expect(m.time_to_first_token_ms).toBeCloseTo(timing.ttft_ms, 2);
    expect(m.generation_time_ms).toBeCloseTo(timing.e2e_ms, 2);
    expect(m.queue_time_ms).toBeCloseTo(timing.queue_ms, 2);
  });

  it('ignores include_metrics on a server started without the flag (as vLLM does), and refuses a non-boolean', async () => {
    const r = await post(`${plain.url}/v1/completions`, JSON.stringify({ prompt: 'Hello', max_tokens: 3, include_metrics: true }));
    expect(r.status).toBe(200);
    expect(r.json.metrics).toBeUndefined();
    const bad = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello', include_metrics: 'yes' }));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/include_metrics must be a boolean/);
  });

  it("lets bench --server-timing read a vLLM server's metrics as its server TTFT", async () => {
    const stub = await startOpenAiStub(() => ({ tokens: 3 }));
    try {
      const o: BenchOptions = {
        urls: [stub.url],
        endpoint: 'completions',
        serverTiming: true,
        engine: {},
        tracing: { level: 0, modules: ['request'], sampleRate: 1, includeContent: false },
        workload: { dataset: 'random', count: 3, seed: 1, inputLen: 8, outputLen: 3, rangeRatio: 1 },
        driver: { requestRate: Infinity, burstiness: 1, maxConcurrency: 1, seed: 1, warmup: 0, replayArrivals: false },
        slo: null,
        compareLevels: null,
        repeats: 1,
        targetCi: null,
        budgetMs: 1000,
      };
      const result = await runBench(o);
      expect(stub.log.every((r) => r.body.include_metrics === true && r.body.include_timing === true)).toBe(true);
      expect(result.outcomes.map((x) => x.serverTtftMs)).toEqual([1.5, 1.5, 1.5]);
      expect(STUB_METRICS.time_to_first_token_ms).toBe(1.5);
    } finally {
      await stub.stop();
    }
  });
});
