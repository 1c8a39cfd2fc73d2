import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import type { GenerateRequest } from '../../src/lib/protocol.js';
import { PID_WORKER } from '../../src/lib/tracing/trace_file/format.js';
import { TraceReader } from '../../src/lib/tracing/trace_file/reader.js';
import { TraceFileWriter } from '../../src/lib/tracing/trace_file/writer.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import { collect } from '../helpers/collect.js';
import {
  SHARED_MODEL,
  TINY_MODEL,
  hasSharedModel,
  tinyGenaiGqaModel,
  tinyGenaiReference,
  tinyGqaFp16Model,
  tinyGqaModel,
  tinySlotModel,
} from '../helpers/models.js';

const PROMPTS = [
  'Hello',
  'The quick brown fox jumps over the lazy dog near the river bank',
  'In a hole in the ground there lived',
  'Once upon a time, in a land far, far away, there was a small village where everybody knew everybody else',
  'One two three',
  'A',
];

function greedy(prompt: string, maxTokens: number): GenerateRequest {
  return { prompt, sampling: { temperature: 0, maxTokens, ignoreEos: true } };
}

for (const [name, modelPath] of [
  ['generated tiny model (fp32 KV, dense layout)', TINY_MODEL],
  ['generated tiny model (slot layout)', tinySlotModel()],
  ['generated tiny model (gqa layout)', tinyGqaModel()],
  ['third-party fp16 export', SHARED_MODEL],
] as const) {
  describe.runIf(modelPath !== SHARED_MODEL || hasSharedModel)(`continuous batching on the ${name}`, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await Engine.create({ modelPath, maxRunningRequests: 4, maxPrefillTokens: 64 });
    });
    afterAll(() => engine?.shutdown());

    it('batched greedy output equals unbatched, with mixed prompt lengths and requests arriving mid-flight', async () => {
      const lengths = PROMPTS.map((_, i) => 12 + 5 * i);
      const alone: number[][] = [];
      for (let i = 0; i < PROMPTS.length; i++) alone.push((await collect(engine, greedy(PROMPTS[i], lengths[i]))).tokens);

      // Two requests start together; each further one starts when the previous
      // one has produced a few tokens, so it joins a batch already decoding.
      // More requests than running slots means some wait in the queue.
      const results: Promise<number[]>[] = [];
      let peakRunning = 0;
      const start = (i: number): void => {
        if (i >= PROMPTS.length) return;
        let started = false;
        results[i] = collect(engine, greedy(PROMPTS[i], lengths[i]), (_, n) => {
          peakRunning = Math.max(peakRunning, engine.stats().running);
          if (n === 3 && !started) {
            started = true;
            start(i + 1);
          }
        }).then((r) => r.tokens);
      };
      start(0);
      const batched = [];
      for (let i = 0; i < PROMPTS.length; i++) {
        while (!results[i]) await new Promise((r) => setTimeout(r, 1));
        batched.push(await results[i]);
      }
      expect(batched).toEqual(alone);
      expect(peakRunning).toBeGreaterThanOrEqual(3);
      expect(alone.map((t) => t.length)).toEqual(lengths);
    });

    it('a prompt longer than the prefill budget is prefilled in chunks with the same result', async () => {
      const long = PROMPTS.join(' ') + ' ' + PROMPTS.join(' ');
      const chunked = await collect(engine, greedy(long, 10));
      const whole = await Engine.create({ modelPath, maxPrefillTokens: 4096 });
      try {
        expect(engine.tokenizer.encode(long).length).toBeGreaterThan(64);
        expect(chunked.tokens).toEqual((await collect(whole, greedy(long, 10))).tokens);
      } finally {
        await whole.shutdown();
      }
    });
  });
}

for (const [layout, model, reference] of [
  ['slot', tinySlotModel, null],
  ['gqa', tinyGqaModel, null],
  // fp16 rounding of the cache does not move the tiny model's greedy choices on these prompts.
  ['gqa (fp16 cache)', tinyGqaFp16Model, null],
  // onnxruntime-genai's GroupQueryAttention interface: the cache shared by past and present, lengths from the mask.
  ['gqa (onnxruntime-genai interface)', tinyGenaiGqaModel, tinyGenaiReference],
] as const) {
  describe(`the ${layout} KV layout`, () => {
    let dense: Engine;
    let slots: Engine;
    beforeAll(async () => {
      [dense, slots] = await Promise.all([
        Engine.create({ ...(reference ? { modelPath: reference() } : {}), maxRunningRequests: 4, maxPrefillTokens: 64 }),
        Engine.create({ modelPath: model(), maxRunningRequests: 4, maxPrefillTokens: 64 }),
      ]);
    });
    afterAll(() => Promise.all([dense?.shutdown(), slots?.shutdown()]));

    it("gives the dense layout's greedy tokens for the same weights", async () => {
      // genai's GroupQueryAttention export runs as the gqa layout (its cache shared by past and present), not as dense.
      expect(slots.info.kvLayout).toBe(layout === 'slot' ? 'slots' : 'gqa');
      // A token's KV costs the budget what the cache holds: half for an fp16 cache.
      expect(slots.info.kvBytesPerToken).toBe(dense.info.kvBytesPerToken / (model === tinyGqaFp16Model ? 2 : 1));
      for (let i = 0; i < PROMPTS.length; i++) {
        expect((await collect(slots, greedy(PROMPTS[i], 8 + i))).tokens).toEqual((await collect(dense, greedy(PROMPTS[i], 8 + i))).tokens);
      }
    });

    it('keeps running rows intact when a longer request makes the cache grow under them, and when rows leave from the middle', async () => {
      const long = PROMPTS.join(' ');
      const requests = [greedy(PROMPTS[0], 40), greedy(PROMPTS[4], 6), greedy(PROMPTS[2], 30), greedy(long, 300)];
      const alone: number[][] = [];
      for (const r of requests) alone.push((await collect(dense, r)).tokens);
      // The short rows start decoding in small slots; the long one joins once they run (the slots grow to its
      // 300-token reservation, copying the rows' tokens) and the second row leaves first, leaving a hole.
      const together: Promise<number[]>[] = [];
      together.push(
        collect(slots, requests[0], (_, n) => {
          if (n === 2) together.push(collect(slots, requests[3]).then((r) => r.tokens));
        }).then((r) => r.tokens),
      );
      together.push(collect(slots, requests[1]).then((r) => r.tokens));
      together.push(collect(slots, requests[2]).then((r) => r.tokens));
      const first = await Promise.all(together.slice(0, 3));
      while (together.length < 4) await new Promise((r) => setTimeout(r, 1));
      expect([...first, await together[3]]).toEqual([alone[0], alone[1], alone[2], alone[3]]);
    });

    it("runs a long prompt's prefill a chunk at a time, the running rows decoding after every chunk but the last", async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'sgl-chunks-')), 'trace.json');
      const tracing = new Tracing({ level: 3, modules: ['request', 'scheduler', 'engine'], exporters: [new TraceFileWriter(file)] });
      const engine = await Engine.create({ modelPath: model(), maxPrefillTokens: 16, tracing });
      try {
        const long = PROMPTS.join(' ') + ' ' + PROMPTS.join(' ');
        expect(engine.tokenizer.encode(long).length).toBeGreaterThan(5 * 16);
        const expected = (await collect(dense, greedy(long, 4))).tokens;
        // The long prompt arrives while the first request decodes: with room to outlast the prompt's tokenizing
        // (another process) and its chunks, whatever the machine's pace (at 40 tokens it sometimes ended first).
        let joined: Promise<number[]> | null = null;
        await collect(engine, greedy(PROMPTS[0], 300), (_, n) => {
          if (n === 1 && !joined) joined = collect(engine, greedy(long, 4)).then((r) => r.tokens);
        });
        expect(await joined!).toEqual(expected);
      } finally {
        await engine.shutdown();
        await tracing.shutdown();
      }
      // From the capture: the running request's decode steps that ran between the long prompt's first chunk and its last.
      const steps = new Set<number>();
      const chunksOf = new Map<number, number[]>();
      for (const e of new TraceReader(file).events()) {
        if (e.pid !== PID_WORKER || e.ph !== 'X') continue;
        if (e.name === 'decode_forward') steps.add(e.ts);
        else if (e.name === 'chunked_prefill') chunksOf.set(e.tid, [...(chunksOf.get(e.tid) ?? []), e.ts]);
      }
      // Each request has a track of its own; the long prompt's holds the chunks.
      const chunks = [...chunksOf.values()].sort((a, b) => b.length - a.length)[0].sort((a, b) => a - b);
      expect(chunks.length).toBeGreaterThanOrEqual(5);
      // The premise: the first request was still decoding once the long prompt had joined.
      expect([...steps].some((t) => t > chunks[chunks.length - 1])).toBe(true);
      const within = [...steps].filter((t) => t > chunks[0] && t < chunks[chunks.length - 1]);
      expect(within).toHaveLength(chunks.length - 1);
    });
  });
}
