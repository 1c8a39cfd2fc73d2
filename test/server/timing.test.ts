import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestTiming } from '../../src/lib/protocol.js';
import { slices } from '../../src/lib/tracing/records.js';
import { STAGES } from '../../src/lib/tracing/stages.js';
import type { TestServer } from '../helpers/server.js';
import { post, startServer } from '../helpers/server.js';

const us = (ms: number): number => Math.round(ms * 1000);

/** The union of the stages' intervals plus what is declared unexplained is the E2E, to 50 µs. */
function expectAddsUp(t: RequestTiming): void {
  const spans = t.stages.map((s) => [s.start_ms, Math.min(t.e2e_ms, s.start_ms + s.duration_ms)]).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let reach = 0;
  for (const [from, to] of spans) {
    if (to > Math.max(from, reach)) covered += to - Math.max(from, reach);
    reach = Math.max(reach, to);
  }
  expect(Math.abs(covered + t.unexplained_ms - t.e2e_ms)).toBeLessThanOrEqual(0.05);
}

async function streamedEvents(url: string, body: object): Promise<Record<string, unknown>[]> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  return (await res.text())
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)));
}

describe("a request's own timing in its response (include_timing)", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({}, { level: 2 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('lists the same stages as the trace, with their start and duration, adding up to the server E2E', async () => {
    const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello, my name is', max_tokens: 5, include_timing: true }));
    expect(r.status).toBe(200);
    const timing = (r.json.choices as { timing: RequestTiming }[])[0].timing;
    const rid = r.headers.get('x-request-id')!;
    await s.tracing.flush();
    const traced = s.memory.requests.find((q) => q.rid === rid)!;
    expect(timing.traceparent).toBe(`00-${traced.traceId}-${traced.rootSpanId}-01`);
    const trace = [
      ...slices(traced.main, traced.spanStages).map((x) => ({ ...x, thread: 'main' })),
      ...slices(traced.worker, traced.spanStages).map((x) => ({ ...x, thread: 'worker' })),
    ].map((x) => ({ name: STAGES[x.id].name, thread: x.thread, start: us(x.start - traced.start), dur: us(x.end - x.start) }));
    // Every listed stage is one of the trace's slices, to the microsecond.
    for (const st of timing.stages) expect(trace).toContainEqual({ name: st.name, thread: st.thread, start: us(st.start_ms), dur: us(st.duration_ms) });
    // The trace has one more: writing the response, which ends after the timing was taken.
    expect(trace.length).toBe(timing.stages.length + 1);
    expect(trace.filter((x) => !timing.stages.some((st) => st.name === x.name && us(st.start_ms) === x.start)).map((x) => x.name)).toEqual(['respond']);
    expect(timing.stages.map((st) => st.name)).toEqual(
      expect.arrayContaining(['parse_request', 'tokenize', 'queue_wait', 'prefill_forward', 'decode_loop', 'detokenize']),
    );
    expect(timing.ttft_ms).toBeCloseTo(traced.workload.ttftMs!, 2);
    expect(timing.queue_ms).toBeGreaterThan(0);
    expect(timing.e2e_ms).toBeLessThanOrEqual(traced.workload.e2eMs);
    expectAddsUp(timing);
  });

  it('puts the timing on the last streamed chunk only, and on /generate in meta_info', async () => {
    const events = await streamedEvents(`${s.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, include_timing: true });
    const withTiming = events.filter((e) => (e.choices as { timing?: unknown }[])[0]?.timing);
    expect(withTiming).toHaveLength(1);
    const last = events.filter((e) => (e.choices as unknown[]).length).at(-1)!;
    expect(withTiming[0]).toBe(last);
    expectAddsUp((last.choices as { timing: RequestTiming }[])[0].timing);
    const g = await post(`${s.url}/generate`, JSON.stringify({ text: 'Hi', sampling_params: { max_new_tokens: 3 }, include_timing: true }));
    expectAddsUp((g.json.meta_info as { timing: RequestTiming }).timing);
    const plain = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }));
    expect((plain.json.choices as object[])[0]).not.toHaveProperty('timing');
  });

  it("includes the worker's stages when a stop string ends the request on the main thread", async () => {
    const free = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello', max_tokens: 12, temperature: 0, ignore_eos: true }));
    const text = (free.json.choices as { text: string }[])[0].text;
    const stop = text.slice(6, 9);
    const r = await post(
      `${s.url}/v1/completions`,
      JSON.stringify({ prompt: 'Hello', max_tokens: 12, temperature: 0, ignore_eos: true, stop: [stop], include_timing: true }),
    );
    const choice = (r.json.choices as { finish_reason: string; timing: RequestTiming }[])[0];
    expect(choice.finish_reason).toBe('stop');
    expect(choice.timing.stages.map((st) => st.name)).toContain('decode_loop');
    expectAddsUp(choice.timing);
  });

  it('answers when a stop string ends the request on the token before the worker ends it too', async () => {
    const texts: string[] = [];
    for await (const c of await s.engine.generate({ prompt: 'Once', sampling: { maxTokens: 10, temperature: 0, ignoreEos: true } })) texts.push(c.text);
    // The second-to-last token's text: the main thread finds it while the worker runs its last step, whose records then carry the end.
    const stop = texts.at(-2)!;
    expect(stop.length).toBeGreaterThan(0);
    const r = await post(
      `${s.url}/v1/completions`,
      JSON.stringify({ prompt: 'Once', max_tokens: 10, temperature: 0, ignore_eos: true, stop: [stop], include_timing: true }),
    );
    const choice = (r.json.choices as { finish_reason: string; timing: RequestTiming }[])[0];
    expect(choice.finish_reason).toBe('stop');
    expectAddsUp(choice.timing);
  });

  it('times a request the server does not trace, and exports nothing for it', async () => {
    await fetch(`${s.url}/set_trace_level?level=0`, { method: 'POST' });
    try {
      await s.tracing.flush();
      const before = s.memory.requests.length;
      const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 3, include_timing: true }));
      const timing = (r.json.choices as { timing: RequestTiming }[])[0].timing;
      expect(timing.stages.length).toBeGreaterThan(5);
      expect(timing.traceparent).toMatch(/-00$/);
      expectAddsUp(timing);
      await s.tracing.flush();
      expect(s.memory.requests.length).toBe(before);
    } finally {
      await fetch(`${s.url}/set_trace_level?level=2`, { method: 'POST' });
    }
  });

  it("times the worker's stages on a server whose trace modules leave out request", async () => {
    // Metrics off: with them on, the worker records its request stages for the histograms anyway.
    const other = await startServer({ enableMetrics: false }, { level: 2, modules: ['scheduler'], metrics: false });
    try {
      const r = await post(`${other.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 3, include_timing: true }));
      const timing = (r.json.choices as { timing: RequestTiming }[])[0].timing;
      const names = new Set(timing.stages.map((x) => x.name));
      for (const stage of ['tokenize', 'queue_wait', 'prefill_forward', 'decode_loop']) expect(names).toContain(stage);
      expectAddsUp(timing);
    } finally {
      await other.stop();
    }
  });

  it('refuses an include_timing that is not a boolean', async () => {
    const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', include_timing: 'yes' }));
    expect(r.status).toBe(400);
    expect((r.json.error as { param: string }).param).toBe('include_timing');
  });
});
