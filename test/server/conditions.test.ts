import { request } from 'node:http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { post, startServer, until } from '../helpers/server.js';

describe('the server under real conditions', () => {
  let s: TestServer | null = null;
  afterEach(async () => {
    await s?.stop();
    s = null;
  });

  it('aborts the request of a client that disconnects mid-stream and records the abort', async () => {
    s = await startServer({}, { level: 2 });
    const url = new URL(`${s.url}/v1/completions`);
    const rid = await new Promise<string>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let events = 0;
        res.on('data', (d: Buffer) => {
          events += d.toString().split('\n\n').length - 1;
          if (events >= 3) {
            req.destroy();
            resolve(String(res.headers['x-request-id']));
          }
        });
      });
      req.on('error', (e) => (e.message.includes('aborted') || e.message.includes('socket hang up') ? undefined : reject(e)));
      req.end(JSON.stringify({ prompt: 'Tell me a long story', max_tokens: 500, ignore_eos: true, stream: true }));
    });
    await until(() => s!.memory.requests.some((r) => r.rid === rid) && s!.engine.stats().running === 0);
    const traced = s.memory.requests.find((r) => r.rid === rid)!;
    expect(traced.error).toBe('aborted');
    expect(traced.workload.finishReason).toBe('abort');
    expect(traced.workload.outputTokens).toBeLessThan(500);
    expect(s.server.running).toBe(0);
  });

  it('answers 503 with Retry-After when the queue is full, and serves again once it drains', async () => {
    s = await startServer({ maxQueuedRequests: 0 }, {}, { maxRunningRequests: 1 });
    const first = post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Long', max_tokens: 200, ignore_eos: true }));
    await until(() => s!.server.running === 1);
    const second = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Short', max_tokens: 2 }));
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect((second.json.error as { code: string }).code).toBe('server_overloaded');
    expect((await first).status).toBe(200);
    expect((await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Short', max_tokens: 2 }))).status).toBe(200);
  });

  it('requires the API key on every route but /health', async () => {
    s = await startServer({ apiKey: 'sekrit' });
    const body = JSON.stringify({ prompt: 'Hi', max_tokens: 1 });
    const none = await post(`${s.url}/v1/completions`, body);
    expect(none.status).toBe(401);
    expect(none.json.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    expect((await post(`${s.url}/v1/completions`, body, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await fetch(`${s.url}/v1/models`)).status).toBe(401);
    expect((await post(`${s.url}/v1/completions`, body, { authorization: 'Bearer sekrit' })).status).toBe(200);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('exposes Prometheus metrics with SGLang names that count what happened', async () => {
    s = await startServer({}, { level: 1 });
    for (let i = 0; i < 3; i++) await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello', max_tokens: 4, ignore_eos: true }));
    const res = await fetch(`${s.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    for (const [name, type] of [
      ['sglang:per_stage_req_latency_seconds', 'HISTOGRAM'],
      ['sglang:time_to_first_token_seconds', 'HISTOGRAM'],
      ['sglang:inter_token_latency_seconds', 'HISTOGRAM'],
      ['sglang:e2e_request_latency_seconds', 'HISTOGRAM'],
      ['sglang:queue_time_seconds', 'HISTOGRAM'],
      ['sglang:prompt_tokens_total', 'COUNTER'],
      ['sglang:generation_tokens_total', 'COUNTER'],
      ['sglang:num_requests_total', 'COUNTER'],
      ['sglang:num_running_reqs', 'GAUGE'],
      ['sglang:num_queue_reqs', 'GAUGE'],
      ['sgl:dropped_spans_total', 'COUNTER'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
    }
    expect(families.get('sglang:generation_tokens_total')!.metrics[0]).toMatchObject({ value: '12', labels: { model_name: 'sgl-llama-tiny' } });
    expect(families.get('sglang:prompt_tokens_total')!.metrics[0].value).toBe('3');
    expect(families.get('sglang:num_requests_total')!.metrics[0].value).toBe('3');
    // The parser folds labelled histograms together; read their counts from the text itself.
    expect(text).toMatch(/sglang:e2e_request_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} 3\n/);
    expect(text).toMatch(/sglang:per_stage_req_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+",stage="parse_request"\} 3\n/);
    expect(text).toMatch(/sglang:per_stage_req_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+",stage="decode_forward"\} 9\n/);
    expect(text).toMatch(/sglang:inter_token_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} 9\n/);
  });

  it('says how to turn metrics on when they are off', async () => {
    s = await startServer({ enableMetrics: false });
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/--enable-metrics/);
  });
});
