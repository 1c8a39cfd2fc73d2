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
    const stream = await client.completions.create({
      model: 'sgl-llama-tiny',
      prompt: 'Once upon a time',
      max_tokens: 5,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
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
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi there' },
    ];
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

  it('answers to model "default", as SGLang does', async () => {
    const res = await client.completions.create({ model: 'default', prompt: 'Hi', max_tokens: 2 });
    expect(res.model).toBe('sgl-llama-tiny');
  });

  it('gives chat logprobs and top_logprobs that match the model and the tokens', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story' }];
    const res = await client.chat.completions.create({ model: 'sgl-llama-tiny', messages, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = res.choices[0].logprobs!.content!;
    expect(res.choices[0].message.refusal).toBeNull();
    expect(content).toHaveLength(5);
    // Greedy: each token is the most likely one, its logprob the top one, the alternatives in order.
    for (const t of content) {
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.logprob).toBe(t.top_logprobs[0].logprob);
      expect(t.token).toBe(t.top_logprobs[0].token);
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs[1].logprob).toBeLessThanOrEqual(t.top_logprobs[0].logprob);
    }
    // The tokens' bytes spell the text exactly.
    expect(Buffer.from(content.flatMap((t) => t.bytes!)).toString()).toBe(res.choices[0].message.content);
    const stream = await client.chat.completions.create({ model: 'sgl-llama-tiny', messages, max_tokens: 5, temperature: 0, logprobs: true, stream: true });
    const streamed = [];
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    // The second request's prompt comes from the prefix cache: the same tokens, logprobs equal to float rounding.
    expect(streamed.map((t) => t.token)).toEqual(content.map((t) => t.token));
    streamed.forEach((t, i) => expect(t.logprob).toBeCloseTo(content[i].logprob, 4));
  });

  it('gives completions logprobs in the legacy shape', async () => {
    const res = await client.completions.create({ model: 'sgl-llama-tiny', prompt: 'Once upon a time', max_tokens: 4, temperature: 0, logprobs: 2 });
    const lp = res.choices[0].logprobs!;
    expect(lp.tokens).toHaveLength(4);
    expect(lp.tokens!.join('')).toBe(res.choices[0].text);
    expect(lp.text_offset).toEqual(lp.tokens!.map((_, i) => lp.tokens!.slice(0, i).join('').length));
    lp.top_logprobs!.forEach((top, i) => {
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(1);
      expect(Math.max(...Object.values(top))).toBe(lp.token_logprobs![i]);
    });
  });

  it('answers n=2 with two choices, streamed and not, each seeded choice reproducible', async () => {
    const body = { model: 'sgl-llama-tiny', prompt: 'The weather today', max_tokens: 6, temperature: 1, seed: 11, n: 2 };
    const res = await client.completions.create(body);
    expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(res.choices[0].text).not.toBe(res.choices[1].text);
    expect(res.usage).toMatchObject({ completion_tokens: 12, prompt_tokens: 3 });
    const again = await client.completions.create(body);
    expect(again.choices.map((c) => c.text)).toEqual(res.choices.map((c) => c.text));
    const stream = await client.completions.create({ ...body, stream: true });
    const texts = ['', ''];
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.text;
    expect(texts).toEqual(res.choices.map((c) => c.text));
    const chat = await client.chat.completions.create({
      model: 'sgl-llama-tiny',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 3,
      n: 2,
      temperature: 0,
    });
    expect(chat.choices).toHaveLength(2);
    expect(chat.choices[1].message.content).toBe(chat.choices[0].message.content);
  });

  it("shares a long prompt's prefill among its n choices through the prefix cache", async () => {
    const prompt = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const res = await client.completions.create({ model: 'sgl-llama-tiny', prompt, max_tokens: 2, n: 3 });
    const promptTokens = res.usage!.prompt_tokens;
    expect(promptTokens).toBeGreaterThan(64);
    await s.tracing.flush();
    const choices = s.memory.requests
      .filter((r) => r.workload.inputTokens === promptTokens)
      .map((r) => r.workload.cachedTokens)
      .sort((a, b) => a! - b!);
    // The first choice prefills the prompt; the others reuse all of it but the last token.
    expect(choices).toEqual([0, promptTokens - 1, promptTokens - 1]);
  });

  it('gives a seeded request the same text alone and among 16 concurrent others', async () => {
    const seeded = { model: 'sgl-llama-tiny', prompt: 'In a quiet village', max_tokens: 12, temperature: 0.9, top_p: 0.95, seed: 1234 };
    const alone = (await client.completions.create(seeded)).choices[0].text;
    const others = Array.from({ length: 16 }, (_, i) =>
      client.completions.create({ model: 'sgl-llama-tiny', prompt: `Request number ${i} says`, max_tokens: 8 + (i % 5), temperature: 1 }),
    );
    const [crowded] = await Promise.all([client.completions.create(seeded), ...others]);
    expect(crowded.choices[0].text).toBe(alone);
  });

  it('reports a request the server aborts as an error, never as a finish_reason OpenAI does not define', async () => {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Go on' }], max_tokens: 1000, ignore_eos: true, stream: true }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    s.engine.abort(res.headers.get('x-request-id')!);
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    expect(text).not.toContain('"abort"');
    const last = JSON.parse(
      text
        .trim()
        .split('\n\n')
        .at(-1)!
        .replace(/^data: /, ''),
    );
    expect(last.error).toMatchObject({ type: 'server_error', code: 'request_aborted' });
  });

  it("serves SGLang's native /generate, whole and streamed", async () => {
    const r = await post(`${s.url}/generate`, JSON.stringify({ text: 'Hello, my name is', sampling_params: { max_new_tokens: 4, temperature: 0 } }));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ meta_info: { prompt_tokens: 5, completion_tokens: 4, finish_reason: { type: 'length' } } });
    expect(r.json.output_ids).toHaveLength(4);
    const res = await fetch(`${s.url}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_ids: [15496, 11], sampling_params: { max_new_tokens: 3, temperature: 0 }, stream: true }),
    });
    const events = (await res.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const last = JSON.parse(events.at(-2)!);
    expect(last.meta_info).toMatchObject({ completion_tokens: 3, finish_reason: { type: 'length' } });
  });

  it('changes the trace level for new requests while it runs', async () => {
    expect((await fetch(`${s.url}/set_trace_level?level=0`, { method: 'POST' })).status).toBe(200);
    const untraced = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }));
    await s.tracing.flush();
    // By id, not by count: an earlier test's request may still be finishing (its trace ends after its last byte).
    const rid = untraced.headers.get('x-request-id')!;
    expect(rid).toBeTruthy();
    expect(s.memory.requests.some((r) => r.rid === rid)).toBe(false);
    expect((await fetch(`${s.url}/set_trace_level?level=3`)).status).toBe(200);
    await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }));
    await s.tracing.flush();
    expect(s.memory.requests.at(-1)!.level).toBe(3);
    expect((await fetch(`${s.url}/set_trace_level?level=7`)).status).toBe(400);
    await fetch(`${s.url}/set_trace_level?level=2`);
  });
});
