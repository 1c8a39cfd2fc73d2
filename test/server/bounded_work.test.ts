import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelWithTemplate } from '../helpers/models.js';
import type { TestServer } from '../helpers/server.js';
import { post, startServer } from '../helpers/server.js';

const completion = (prompt: string, maxTokens = 3): string => JSON.stringify({ prompt, max_tokens: maxTokens });

describe('work per request is bounded before it is done', () => {
  let s: TestServer;
  beforeAll(async () => {
    // A prompt limit above the default, so a prompt can pass it and still take seconds to tokenize.
    s = await startServer({ maxBodyBytes: 8 * 2 ** 20 }, {}, { maxPromptBytes: 2 * 2 ** 20, tokenizeTimeoutMs: 5000 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('a 4 MB prompt is refused by its size; a slow one to tokenize holds up neither /health nor a normal request', async () => {
    // Under the size limit, but one long word: more BPE merges than the 5 s budget allows.
    const slowPrompt = 'a'.repeat(1.5 * 2 ** 20);
    let slowDone = false;
    const slow = post(`${s.url}/v1/completions`, completion(slowPrompt)).finally(() => (slowDone = true));
    const healthStart = performance.now();
    const health = await fetch(`${s.url}/health`);
    const healthMs = performance.now() - healthStart;
    expect(health.status).toBe(200);
    const normal = await post(`${s.url}/v1/completions`, completion('Hello'));
    expect(normal.status).toBe(200);
    const big = await post(`${s.url}/v1/completions`, completion('x'.repeat(4 * 2 ** 20)));
    expect(big.status).toBe(400);
    expect(big.json.error).toMatchObject({ param: 'prompt', code: 'context_length_exceeded' });
    expect((big.json.error as { message: string }).message).toMatch(/4194304 bytes, more than the 2097152 bytes that could fit/);
    // All of that happened while the slow one was still being tokenized.
    expect(slowDone, `health took ${healthMs.toFixed(1)} ms`).toBe(false);
    const slowReply = await slow;
    expect(slowReply.status).toBe(400);
    expect(slowReply.json.error).toMatchObject({ param: 'prompt', code: 'tokenize_timeout' });
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });
});

describe('a hostile chat template fails its request, never the server', () => {
  const HOSTILE = [
    // An allocation past V8's limits: a fatal error, not an exception.
    '{% for i in range(200000000) %}x{% endfor %}{{ messages[0].content }}',
    // Four million iterations: tens of seconds of work.
    '{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}{{ messages[0].content }}',
  ];
  let s: TestServer;
  beforeAll(async () => {
    const template = `{% if messages[0].content == 'loop' %}${HOSTILE[1]}{% elif messages[0].content == 'alloc' %}${HOSTILE[0]}{% else %}{{ messages[0].content }}{% endif %}`;
    s = await startServer({}, {}, { modelPath: modelWithTemplate(template), tokenizeTimeoutMs: 1500 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it.each(['alloc', 'loop'])('%s: a 400 for that request, and the server keeps serving', async (content) => {
    const chat = (text: string) => post(`${s.url}/v1/chat/completions`, JSON.stringify({ messages: [{ role: 'user', content: text }], max_tokens: 2 }));
    const [hostile, health, normal] = await Promise.all([chat(content), fetch(`${s.url}/health`), post(`${s.url}/v1/completions`, completion('Hello'))]);
    expect(hostile.status).toBe(400);
    // Stopped at the time budget, or its process died of the allocation first.
    expect(hostile.json.error).toMatchObject({ param: 'messages' });
    expect(['tokenize_timeout', 'tokenizer_failed']).toContain((hostile.json.error as { code: string }).code);
    expect(health.status).toBe(200);
    expect(normal.status).toBe(200);
    // The tokenizer process that failed was replaced: chat works again.
    expect((await chat('Hi')).status).toBe(200);
  });
});
