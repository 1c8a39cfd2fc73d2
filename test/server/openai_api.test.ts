import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { post, startServer } from '../helpers/server.js';

describe('the OpenAI-compatible API', () => {
  let s: TestServer;
  let client: OpenAI;
  beforeAll(async () => {
    s = await startServer({}, { level: 2 });
    client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('lists the served model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['sgl-llama-tiny']);
  });

  it('answers completions with the same tokens as the engine, with usage', async () => {
    const res = await client.completions.create({ model: 'sgl-llama-tiny', prompt: 'Hello, my name is', max_tokens: 6, temperature: 0 });
    expect(res.object).toBe('text_completion');
    expect(res.choices[0].finish_reason).toBe('length');
    expect(res.usage).toEqual({ prompt_tokens: 5, completion_tokens: 6, total_tokens: 11, prompt_tokens_details: { cached_tokens: 0 } });
    let direct = '';
    for await (const c of await s.engine.generate({ prompt: 'Hello, my name is', sampling: { maxTokens: 6, temperature: 0 } })) direct += c.text;
    expect(res.choices[0].text).toBe(direct);
    // The same prompt again: all but its last token come from the prefix cache, as OpenAI's usage reports it.
    const again = await client.completions.create({ model: 'sgl-llama-tiny', prompt: 'Hello, my name is', max_tokens: 6, temperature: 0 });
    expect(again.usage?.prompt_tokens_details?.cached_tokens).toBe(4);
    expect(again.choices[0].text).toBe(direct);
  });

  it('streams completions as server-sent events, usage last when asked', async () => {
    const stream = await client.completions.create({ model: 'sgl-llama-tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.choices.length) {
        text += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    const whole = await client.completions.create({ model: 'sgl-llama-tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
    expect(text).toBe(whole.choices[0].text);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ completion_tokens: 5 });
  });

  it('answers chat completions through the chat template, streamed and not', async () => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi there' }];
    const res = await client.chat.completions.create({ model: 'sgl-llama-tiny', messages, max_completion_tokens: 4, temperature: 0, seed: 3 });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0].message.role).toBe('assistant');
    const expectedPrompt = s.engine.tokenizer.applyChatTemplate(messages).length;
    expect(res.usage?.prompt_tokens).toBe(expectedPrompt);
    const stream = await client.chat.completions.create({ model: 'sgl-llama-tiny', messages, max_tokens: 4, temperature: 0, stream: true });
    let text = '';
    let role = '';
    for await (const chunk of stream) {
      role ||= chunk.choices[0]?.delta.role ?? '';
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(role).toBe('assistant');
    expect(text).toBe(res.choices[0].message.content);
  });

  it('carries the request id and takes the incoming traceparent as the trace parent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(r.status).toBe(200);
    const rid = r.headers.get('x-request-id');
    expect(r.json.id).toBe(`cmpl-${rid}`);
    await s.tracing.flush();
    const traced = s.memory.requests.find((q) => q.rid === rid)!;
    expect(traced.traceId).toBe(traceId);
    expect(traced.parentSpanId).toBe('00f067aa0ba902b7');
    expect(Object.keys(traced.workload.stages)).toContain('parse_request');
  });

  it("serves SGLang's native /generate, whole and streamed", async () => {
    const r = await post(`${s.url}/generate`, JSON.stringify({ text: 'Hello, my name is', sampling_params: { max_new_tokens: 4, temperature: 0 } }));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ meta_info: { prompt_tokens: 5, completion_tokens: 4, finish_reason: { type: 'length' } } });
    expect(r.json.output_ids).toHaveLength(4);
    const res = await fetch(`${s.url}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input_ids: [15496, 11], sampling_params: { max_new_tokens: 3, temperature: 0 }, stream: true }) });
    const events = (await res.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const last = JSON.parse(events.at(-2)!);
    expect(last.meta_info).toMatchObject({ completion_tokens: 3, finish_reason: { type: 'length' } });
  });

  it('changes the trace level for new requests while it runs', async () => {
    const before = s.memory.requests.length;
    expect((await fetch(`${s.url}/set_trace_level?level=0`, { method: 'POST' })).status).toBe(200);
    await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }));
    await s.tracing.flush();
    expect(s.memory.requests.length).toBe(before);
    expect((await fetch(`${s.url}/set_trace_level?level=3`)).status).toBe(200);
    await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }));
    await s.tracing.flush();
    expect(s.memory.requests.at(-1)!.level).toBe(3);
    expect((await fetch(`${s.url}/set_trace_level?level=7`)).status).toBe(400);
    await fetch(`${s.url}/set_trace_level?level=2`);
  });
});
