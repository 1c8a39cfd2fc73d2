import { afterEach, describe, expect, it } from 'vitest';
import { hashedRid } from '../../src/lib/request_id.js';
import { serviceInstanceId } from '../../src/lib/tracing/otel_resource.js';
import { post, startServer, until } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const completion = (maxTokens = 4): string => JSON.stringify({ prompt: 'Hello', max_tokens: maxTokens, temperature: 0, ignore_eos: true });

/** What a replica behind a load balancer needs: readiness that fails while draining, the client's request id, its own instance on metrics. */
describe('sgl serve behind a load balancer', () => {
  let s: TestServer | null = null;
  afterEach(async () => {
    await s?.stop();
    s = null;
  });

  it('GET /ready answers 200, then 503 once draining starts, while requests are still served', async () => {
    s = await startServer({ apiKey: 'k' });
    // Probes carry no key, like /health.
    expect((await fetch(`${s.url}/ready`)).status).toBe(200);
    s.server.drain();
    const ready = await fetch(`${s.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    const served = await post(`${s.url}/v1/completions`, completion(), { authorization: 'Bearer k' });
    expect(served.status).toBe(200);
  });

  it("keeps the client's X-Request-Id: echoed, and the request's id (recorded hashed)", async () => {
    s = await startServer({}, { level: 1 });
    const res = await post(`${s.url}/v1/completions`, completion(), { 'x-request-id': 'lb-7f3a' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('lb-7f3a');
    await until(() => s!.memory.requests.length === 1);
    expect(s.memory.requests[0].rid).toBe(hashedRid('lb-7f3a'));
    // Two at once under one id: both are served, both echo it; the second runs under an id of its own.
    const [a, b] = await Promise.all([
      post(`${s.url}/v1/completions`, completion(12), { 'x-request-id': 'dup' }),
      post(`${s.url}/v1/completions`, completion(12), { 'x-request-id': 'dup' }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.headers.get('x-request-id'), b.headers.get('x-request-id')]).toEqual(['dup', 'dup']);
    // An id that could not go into a header or a log as it is, is not used.
    const odd = await post(`${s.url}/v1/completions`, completion(), { 'x-request-id': ' spaced ' });
    expect(odd.status).toBe(200);
    expect(odd.headers.get('x-request-id')).not.toBe(' spaced ');
  });

  it("labels every metric series with the process's service.instance.id", async () => {
    s = await startServer();
    await post(`${s.url}/v1/completions`, completion());
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const series = text.split('\n').filter((l) => l.startsWith('sglang:') || l.startsWith('sgl:'));
    expect(series.length).toBeGreaterThan(10);
    for (const line of series) expect(line).toContain(`instance_id="${serviceInstanceId()}"`);
  });
});
