import { afterEach, describe, expect, it } from 'vitest';
import { hashedRid } from '../../src/lib/request_id.js';
import type { TestServer } from '../helpers/server.js';
import { post, startServer, until } from '../helpers/server.js';

/** Waits until the tracing hub has handed `n` finished requests to the exporters. */
const finished = (s: TestServer, n: number): Promise<void> => until(() => s.memory.requests.length >= n);

describe('what a trace keeps of a request', () => {
  let s: TestServer;
  afterEach(async () => {
    await s.stop();
  });
  const native = JSON.stringify({ text: 'Hello', rid: 'user-42@example.com', sampling_params: { max_new_tokens: 2, stop: ['secret stop'] } });
  const chat = JSON.stringify({ messages: [{ role: 'user', content: 'private words' }], max_tokens: 2 });

  it('without --trace-include-content: a client rid only hashed, no stop strings, no text', async () => {
    s = await startServer({}, { level: 1 });
    expect((await post(`${s.url}/generate`, native)).headers.get('x-request-id')).toBe('user-42@example.com');
    expect((await post(`${s.url}/v1/chat/completions`, chat)).status).toBe(200);
    await finished(s, 2);
    const [gen, conversation] = s.memory.requests;
    expect(gen.rid).toBe(hashedRid('user-42@example.com'));
    expect(gen.workload.rid).toBe(gen.rid);
    expect(gen.workload.sampling.stop).toBeUndefined();
    expect(JSON.stringify(s.memory.requests)).not.toMatch(/user-42|secret stop|private words/);
    expect(conversation.workload.messages).toBeUndefined();
  });

  it("with it: the rid as sent, the stop strings, and a chat request's messages", async () => {
    s = await startServer({}, { level: 1, includeContent: true });
    await post(`${s.url}/generate`, native);
    await post(`${s.url}/v1/chat/completions`, chat);
    await finished(s, 2);
    const [gen, conversation] = s.memory.requests;
    expect(gen.rid).toBe('user-42@example.com');
    expect(gen.workload.sampling.stop).toEqual(['secret stop']);
    expect(conversation.workload.messages).toEqual([{ role: 'user', content: 'private words' }]);
    expect(conversation.workload.inputIds?.length).toBe(conversation.workload.inputTokens);
  });

  it('/generate refuses sampling parameters it would ignore, as the OpenAI routes do', async () => {
    s = await startServer();
    const generate = (params: Record<string, unknown>) =>
      post(`${s.url}/generate`, JSON.stringify({ text: 'Hi', sampling_params: { max_new_tokens: 1, ...params } }));
    for (const [key, value] of [
      ['frequency_penalty', 0.5],
      ['repetition_penalty', 1.2],
      ['regex', 'a+'],
      ['json_schema', '{}'],
    ] as const) {
      const r = await generate({ [key]: value });
      expect(r.status, key).toBe(400);
      expect((r.json.error as { param: string }).param).toBe(`sampling_params.${key}`);
    }
    expect((await generate({ frequency_penalty: 0, repetition_penalty: 1 })).status).toBe(200);
  });
});
