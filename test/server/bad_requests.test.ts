import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import { post, startServer } from '../helpers/server.js';

type Case = [label: string, path: string, body: string, status: number, param: string | null, message: RegExp];

const long = 'word '.repeat(3000);
const CASES: Case[] = [
  ['malformed JSON', '/v1/completions', '{"prompt": "hi",', 400, null, /not valid JSON/],
  ['empty body', '/v1/completions', '', 400, null, /empty/],
  ['a JSON array', '/v1/completions', '[1,2]', 400, null, /JSON object/],
  ['a JSON string', '/v1/completions', '"hello"', 400, null, /JSON object/],
  ['missing prompt', '/v1/completions', '{"max_tokens": 3}', 400, 'prompt', /prompt is required/],
  ['prompt of the wrong type', '/v1/completions', '{"prompt": 42}', 400, 'prompt', /prompt must be a string or an array of token ids, got a number/],
  ['prompt of mixed ids and text', '/v1/completions', '{"prompt": [1, "a"]}', 400, 'prompt', /got an array of mixed values/],
  ['batched prompts', '/v1/completions', '{"prompt": ["a", "b"]}', 400, 'prompt', /Batched prompts/],
  ['empty prompt', '/v1/completions', '{"prompt": ""}', 400, 'prompt', /empty/],
  ['token id out of range', '/v1/completions', '{"prompt": [1, 99999999]}', 400, 'prompt[1]', /prompt\[1\] must be between 0 and 50256/],
  ['negative max_tokens', '/v1/completions', '{"prompt": "hi", "max_tokens": -5}', 400, 'max_tokens', /max_tokens/],
  ['zero max_tokens', '/v1/completions', '{"prompt": "hi", "max_tokens": 0}', 400, 'max_tokens', /max_tokens/],
  ['huge max_tokens', '/v1/completions', '{"prompt": "hi", "max_tokens": 1000000000}', 400, 'max_tokens', /max_tokens/],
  ['fractional max_tokens', '/v1/completions', '{"prompt": "hi", "max_tokens": 2.5}', 400, 'max_tokens', /max_tokens/],
  ['max_tokens as a string', '/v1/completions', '{"prompt": "hi", "max_tokens": "10"}', 400, 'max_tokens', /max_tokens/],
  ['negative temperature', '/v1/completions', '{"prompt": "hi", "temperature": -1}', 400, 'temperature', /temperature/],
  ['temperature as a string', '/v1/completions', '{"prompt": "hi", "temperature": "hot"}', 400, 'temperature', /temperature/],
  ['top_p above 1', '/v1/completions', '{"prompt": "hi", "top_p": 1.5}', 400, 'top_p', /top_p/],
  ['stop of the wrong type', '/v1/completions', '{"prompt": "hi", "stop": 7}', 400, 'stop', /stop/],
  ['seed out of range', '/v1/completions', '{"prompt": "hi", "seed": -3}', 400, 'seed', /seed/],
  ['n above the limit', '/v1/completions', '{"prompt": "hi", "n": 17}', 400, 'n', /n must be an integer from 1 to 16, got 17/],
  ['n of zero', '/v1/chat/completions', '{"messages": [{"role": "user", "content": "hi"}], "n": 0}', 400, 'n', /from 1 to 16/],
  ['best_of beyond n', '/v1/completions', '{"prompt": "hi", "best_of": 3}', 400, 'best_of', /best_of/],
  ['logprobs above the limit', '/v1/completions', '{"prompt": "hi", "logprobs": 21}', 400, 'logprobs', /logprobs must be an integer from 0 to 20/],
  [
    'chat logprobs not a boolean',
    '/v1/chat/completions',
    '{"messages": [{"role": "user", "content": "hi"}], "logprobs": 3}',
    400,
    'logprobs',
    /logprobs must be a boolean, got a number/,
  ],
  [
    'top_logprobs without logprobs',
    '/v1/chat/completions',
    '{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3}',
    400,
    'top_logprobs',
    /needs logprobs: true/,
  ],
  ['stream not a boolean', '/v1/completions', '{"prompt": "hi", "stream": "yes"}', 400, 'stream', /stream/],
  ['prompt longer than the context', '/v1/completions', JSON.stringify({ prompt: long }), 400, 'prompt', /context length/],
  ['unknown model', '/v1/completions', '{"model": "gpt-4", "prompt": "hi"}', 404, 'model', /does not exist/],
  ['missing messages', '/v1/chat/completions', '{"model": "sgl-llama-tiny"}', 400, 'messages', /messages is required/],
  [
    'messages not an array',
    '/v1/chat/completions',
    '{"messages": "hi"}',
    400,
    'messages',
    /messages must be a non-empty array of \{role, content\}, got a string/,
  ],
  ['message without role', '/v1/chat/completions', '{"messages": [{"content": "hi"}]}', 400, 'messages[0].role', /role/],
  ['message content of the wrong type', '/v1/chat/completions', '{"messages": [{"role": "user", "content": 5}]}', 400, 'messages[0].content', /content/],
  ['native without text', '/generate', '{"sampling_params": {}}', 400, 'text', /text/],
  ['native sampling_params not an object', '/generate', '{"text": "hi", "sampling_params": 3}', 400, 'sampling_params', /sampling_params/],
  ['body over the limit', '/v1/completions', JSON.stringify({ prompt: 'x'.repeat(70 * 1024) }), 413, null, /limit/],
];

describe('hostile and malformed requests', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ maxBodyBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await s.stop();
  });

  it.each(CASES)('%s gets an OpenAI-style error', async (_label, path, body, status, param, message) => {
    const r = await post(`${s.url}${path}`, body);
    expect(r.status).toBe(status);
    const error = r.json.error as { message: string; type: string; param: string | null; code: string | null };
    expect(error.type).toBe('invalid_request_error');
    expect(error.param).toBe(param);
    expect(error.message).toMatch(message);
  });

  it('answers unknown routes and wrong methods with 404 and 405', async () => {
    expect((await fetch(`${s.url}/v2/whatever`)).status).toBe(404);
    const r = await fetch(`${s.url}/v1/completions`);
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('POST');
  });

  it('still serves a good request after all of them', async () => {
    const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello', max_tokens: 3 }));
    expect(r.status).toBe(200);
    expect((r.json.usage as { completion_tokens: number }).completion_tokens).toBe(3);
    expect(s.engine.stats().running).toBe(0);
  });
});
