import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { InvalidRequestError } from '../../src/lib/errors.js';
import type { GenerateRequest } from '../../src/lib/protocol.js';
import { collect } from '../helpers/collect.js';

describe('Engine API on the embedded model', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.create();
  });
  afterAll(() => engine?.shutdown());

  it('streams token ids, text deltas, a finish reason and usage', async () => {
    const r = await collect(engine, { prompt: 'Hello, my name is', sampling: { temperature: 0, maxTokens: 12 } });
    expect(r.tokens).toHaveLength(12);
    expect(r.finishReason).toBe('length');
    expect(r.text).toBe(engine.tokenizer.decode(r.tokens));
    const last = r.chunks.at(-1)!;
    expect(last.usage).toEqual({ promptTokens: engine.tokenizer.encode('Hello, my name is').length, completionTokens: 12, cachedTokens: 0 });
    expect(r.chunks.every((c) => c.rid === last.rid)).toBe(true);
  });

  it('the same seed gives the same tokens; another seed differs', async () => {
    const req = (seed: number): GenerateRequest => ({ prompt: 'Tell me', sampling: { temperature: 1.2, topP: 0.95, seed, maxTokens: 24, ignoreEos: true } });
    const a = await collect(engine, req(11));
    const b = await collect(engine, req(11));
    const c = await collect(engine, req(12));
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('stops at a stop token id and reports finish reason stop', async () => {
    const free = await collect(engine, { prompt: 'Hello', sampling: { temperature: 0, maxTokens: 10, ignoreEos: true } });
    const stopId = free.tokens[4];
    const r = await collect(engine, { prompt: 'Hello', sampling: { temperature: 0, maxTokens: 10, stopTokenIds: [stopId] } });
    expect(r.finishReason).toBe('stop');
    expect(r.tokens).toEqual(free.tokens.slice(0, free.tokens.indexOf(stopId) + 1));
  });

  it('stops at a stop string, never emits it, and frees the slot', async () => {
    const free = await collect(engine, { prompt: 'Hello', sampling: { temperature: 0, maxTokens: 16, ignoreEos: true } });
    const stop = free.text.slice(12, 16);
    const r = await collect(engine, { prompt: 'Hello', sampling: { temperature: 0, maxTokens: 16, stop: [stop], ignoreEos: true } });
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    for (const c of r.chunks) expect(c.text).not.toContain(stop);
    await waitFor(() => engine.stats().running === 0);
  });

  it('abort ends a running request with finish reason abort and frees its KV', async () => {
    let rid = '';
    const r = await collect(engine, { prompt: 'Hello', sampling: { temperature: 0, maxTokens: 500, ignoreEos: true } }, (c, i) => {
      rid = c.rid;
      if (i === 2) engine.abort(rid);
    });
    expect(r.finishReason).toBe('abort');
    expect(r.tokens.length).toBeLessThan(500);
    await waitFor(() => engine.stats().running === 0 && engine.stats().kvTokens === 0);
  });

  it('abort reaches a request while its prefill runs', async () => {
    await waitFor(() => engine.stats().running === 0);
    // The worker is idle: it takes the request up at once and awaits its prefill, during which the abort arrives.
    const stream = await engine.generate({ prompt: 'word '.repeat(300), sampling: { maxTokens: 500, ignoreEos: true } });
    engine.abort(stream.rid);
    let tokens = 0;
    let finish = null;
    for await (const c of stream) {
      tokens += c.tokenIds.length;
      finish = c.finishReason ?? finish;
    }
    expect(finish).toBe('abort');
    expect(tokens).toBeLessThan(500);
    await waitFor(() => engine.stats().running === 0 && engine.stats().kvTokens === 0);
  });

  it('breaking out of the iteration aborts the request', async () => {
    for await (const chunk of await engine.generate({ prompt: 'Hi', sampling: { maxTokens: 500, ignoreEos: true } })) {
      if (chunk.usage.completionTokens >= 2) break;
    }
    // The next request runs alone, so the abandoned one has left the batch.
    await collect(engine, { prompt: 'Hi', sampling: { maxTokens: 3 } });
    await waitFor(() => engine.stats().running === 0);
  });

  it('applies the chat template for messages', async () => {
    const r = await collect(engine, { messages: [{ role: 'user', content: 'Hi' }], sampling: { temperature: 0, maxTokens: 4 } });
    expect(r.chunks.at(-1)!.usage.promptTokens).toBe(engine.tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }]).length);
  });

  it.each([
    [{ prompt: 'x '.repeat(1100) }, 'prompt', 'context_length_exceeded'],
    [{ prompt: 'Hi', sampling: { maxTokens: 0 } }, 'maxTokens', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { maxTokens: 1_000_000 } }, 'maxTokens', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { maxTokens: 1024 } }, 'maxTokens', 'context_length_exceeded'],
    [{ prompt: 'Hi', sampling: { maxTokens: 2.5 } }, 'maxTokens', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { temperature: -1 } }, 'temperature', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { temperature: '1' } }, 'temperature', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { topP: 0 } }, 'topP', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { topK: -3 } }, 'topK', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { stop: [''] } }, 'stop', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { stop: 5 } }, 'stop', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { ignoreEos: 'yes' } }, 'ignoreEos', 'invalid_request'],
    [{ prompt: 'Hi', sampling: { frequencyPenalty: 1 } }, 'frequencyPenalty', 'invalid_request'],
    [{ prompt: 42 }, 'prompt', 'invalid_request'],
    [{ prompt: '' }, 'prompt', 'invalid_request'],
    [{ inputIds: [1, 99999999] }, 'inputIds[1]', 'invalid_request'],
    [{ inputIds: 'abc' }, 'inputIds', 'invalid_request'],
    [{ prompt: 'a', inputIds: [1] }, 'inputIds', 'invalid_request'],
    [{}, 'prompt', 'invalid_request'],
    [{ messages: [] }, 'messages', 'invalid_request'],
    [{ messages: [{ role: 'user' }] }, 'messages[0]', 'invalid_request'],
  ])('rejects a bad request (%#: %s) before it reaches the worker', async (req, param, code) => {
    let caught: unknown;
    try {
      await engine.generate(req as GenerateRequest);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidRequestError);
    expect((caught as InvalidRequestError).param).toBe(param);
    expect((caught as InvalidRequestError).code).toBe(code);
    expect((caught as Error).message.length).toBeGreaterThan(20);
  });

  it('still serves after bad requests', async () => {
    expect((await collect(engine, { prompt: 'Hi', sampling: { maxTokens: 2 } })).tokens).toHaveLength(2);
  });
});

describe('KV budget', () => {
  it('a flood of long prompts waits in the queue instead of growing the cache past its budget', async () => {
    // 1 MiB at 256 bytes per token is 4096 cache tokens: at most ~4 of these requests at once.
    const engine = await Engine.create({ kvCacheMb: 1, maxRunningRequests: 64 });
    try {
      const budget = engine.info.limits.maxTotalTokens;
      expect(budget).toBe(4096);
      const prompt = 'lorem ipsum dolor sit amet '.repeat(100);
      const promptLength = engine.tokenizer.encode(prompt).length;
      let peakKv = 0;
      let peakRunning = 0;
      let peakWaiting = 0;
      const all = Array.from({ length: 16 }, () =>
        collect(engine, { prompt, sampling: { maxTokens: 8, ignoreEos: true } }, () => {
          const s = engine.stats();
          peakKv = Math.max(peakKv, s.kvTokens, s.reservedTokens);
          peakRunning = Math.max(peakRunning, s.running);
          peakWaiting = Math.max(peakWaiting, s.waiting);
        }),
      );
      const results = await Promise.all(all);
      expect(results.every((r) => r.tokens.length === 8)).toBe(true);
      expect(peakKv).toBeLessThanOrEqual(budget);
      expect(peakRunning).toBe(Math.floor(budget / (promptLength + 8)));
      expect(peakWaiting).toBeGreaterThan(0);
    } finally {
      await engine.shutdown();
    }
  });

  it('a request that can never fit the budget is refused up front', async () => {
    // 1/8 MiB is 512 cache tokens.
    const engine = await Engine.create({ kvCacheMb: 0.125 });
    try {
      await expect(engine.generate({ inputIds: Array(1000).fill(1), sampling: { maxTokens: 20 } })).rejects.toThrow(InvalidRequestError);
    } finally {
      await engine.shutdown();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
