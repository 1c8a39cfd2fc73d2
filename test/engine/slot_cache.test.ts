import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlotCache } from '../../src/lib/engine/kv/slot_cache.js';
import { ModelRunner } from '../../src/lib/engine/onnx/model_runner.js';
import { PrefixCache } from '../../src/lib/engine/policy/prefix_cache.js';
import { tinySlotModel } from '../helpers/models.js';

/** The tiny slot model's runner, on one thread. */
const tinyRunner = (): Promise<ModelRunner> =>
  ModelRunner.load({
    onnxPath: join(tinySlotModel(), 'onnx/model.onnx'),
    device: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    contextLength: 1024,
    kvCacheBytes: 2 ** 22,
    limits: { maxRunningRequests: 8, maxPrefillTokens: 512 },
    timeOrigin: performance.timeOrigin,
    traceModules: [],
    prefixCache: false,
  });

describe('the slot cache', () => {
  it('is allocated once for the budget, and moves the running rows within it when its shape changes', async () => {
    const runner = await tinyRunner();
    try {
      const budget = 4096;
      const { kvHeads, headDim } = runner.io;
      const cache = new SlotCache(runner, 8, 1024, budget);
      cache.reserve(1, 900, []);
      const arrays = [...cache.data];
      expect(cache.capacity).toBeGreaterThanOrEqual(900);
      // Allocated once for the whole budget: every later shape fits it.
      expect(cache.data[0].length).toBe(budget * kvHeads * headDim);
      // A lone shorter request: a stale long capacity would slow every step, so the shape changes.
      cache.reserve(1, 200, []);
      expect(cache.capacity).toBeLessThan(900);
      expect(cache.slots * cache.capacity).toBeLessThanOrEqual(budget);
      // Three running rows of 150, 90 and 200 tokens, each value saying where it belongs.
      const live = [150, 90, 200];
      const value = (s: number, h: number, t: number, i: number): number => ((s * 7 + h) * 1000 + t) * 100 + i;
      const fill = (): void => {
        for (let s = 0; s < live.length; s++)
          for (let h = 0; h < kvHeads; h++)
            for (let t = 0; t < live[s]; t++)
              for (let i = 0; i < headDim; i++) cache.data[0][((s * kvHeads + h) * cache.capacity + t) * headDim + i] = value(s, h, t, i);
      };
      const holds = (): boolean => {
        for (let s = 0; s < live.length; s++)
          for (let h = 0; h < kvHeads; h++)
            for (let t = 0; t < live[s]; t++)
              for (let i = 0; i < headDim; i++) if (cache.data[0][((s * kvHeads + h) * cache.capacity + t) * headDim + i] !== value(s, h, t, i)) return false;
        return true;
      };
      cache.reserve(3, 250, []);
      fill();
      // A longer request joins: the rows move to the longer stride, in the same arrays.
      const before = cache.capacity;
      cache.reserve(4, 1000, live);
      expect(cache.capacity).toBeGreaterThan(before);
      expect(holds()).toBe(true);
      // The long one leaves: over three times what the rows need, the stride shrinks, again in place.
      cache.reserve(3, 250, live);
      expect(cache.capacity).toBeLessThan(1000);
      expect(holds()).toBe(true);
      expect(cache.data.every((d, i) => d === arrays[i])).toBe(true);
    } finally {
      await runner.release();
    }
  });

  it('warms: allocates the budget and touches every page, a slice per call, and the arrays stay', async () => {
    const runner = await tinyRunner();
    try {
      const budget = 4096;
      const { kvHeads, headDim, pastNames } = runner.io;
      const cache = new SlotCache(runner, 8, 1024, budget);
      // A deadline already past: one slice (64 pages of one array) per call.
      let calls = 1;
      while (cache.warm(0)) calls++;
      const elements = budget * kvHeads * headDim;
      expect(cache.data.length).toBe(pastNames.length);
      expect(cache.data[0].length).toBe(elements);
      const pages = Math.ceil((elements * cache.data[0].BYTES_PER_ELEMENT) / 4096);
      expect(calls).toBe(pastNames.length * Math.ceil(pages / 64));
      expect(cache.warm(Infinity)).toBe(false);
      // Every later shape fits the warmed arrays: none is allocated again.
      const arrays = [...cache.data];
      cache.reserve(8, 500, []);
      cache.reserve(2, 1024, []);
      expect(cache.data.every((d, i) => d === arrays[i])).toBe(true);
    } finally {
      await runner.release();
    }
  });

  it("keeps the prefix cache's pages at its arrays' end, moving them out of the way of the rows it places", async () => {
    const runner = await tinyRunner();
    try {
      const budget = 4096;
      const { kvHeads, headDim, pastNames } = runner.io;
      const slots = new SlotCache(runner, 8, 1024, budget);
      const prefix = new PrefixCache({ tensors: pastNames.length, kvHeads, headDim, newData: (n) => runner.newKvData(n), budget });
      prefix.useArena(slots);
      slots.tail = prefix;
      slots.reserve(2, 600, []);
      const arrays = [...slots.data];
      // Two rows of 500 and 300 tokens, each value saying where it belongs.
      const value = (t: number, r: number, h: number, j: number, i: number): number => (((r * kvHeads + h) * 512 + j) * headDim + i) * (t + 1);
      const prompts = [500, 300].map((n, r) => Array.from({ length: n }, (_, j) => 10 + r * 1000 + j));
      slots.data.forEach((d, t) =>
        prompts.forEach((p, r) => {
          for (let h = 0; h < kvHeads; h++)
            for (let j = 0; j < p.length; j++)
              for (let i = 0; i < headDim; i++) d[((r * kvHeads + h) * slots.capacity + j) * headDim + i] = value(t, r, h, j, i);
        }),
      );
      prompts.forEach((p, r) => expect(prefix.insert(p, slots.data, r, slots.capacity, 0, budget).inserted).toBe(p.length));
      // Their pages (16 and 10 of 32 tokens) are the arrays' last 832 tokens: nothing was allocated beside the budget.
      expect(prefix.extent).toBe(26 * 32 * kvHeads * headDim);
      expect(slots.data.every((d, i) => d === arrays[i])).toBe(true);
      /** The cached KV of prompt r, as copyOut writes it, against what its row held. */
      const intact = (r: number): boolean => {
        const n = prompts[r].length;
        const dst = pastNames.map(() => new Float32Array(kvHeads * n * headDim));
        prefix.copyOut(prefix.match(prompts[r], n), n, dst, 0, n, n);
        return dst.every((d, t) => d.every((x, k) => x === value(t, r, Math.floor(k / (n * headDim)), Math.floor(k / headDim) % n, k % headDim)));
      };
      expect(intact(0) && intact(1)).toBe(true);
      // The first prompt goes (least recently used); seven slots of 512 then reach into the second one's pages,
      // which move into the freed ones behind them: the same arrays, the same KV.
      prefix.match(prompts[1]);
      expect(prefix.evict(1)).toBe(500);
      slots.reserve(7, 500, []);
      expect(slots.capacity * 7).toBeGreaterThan(4096 - 26 * 32);
      expect(prefix.size).toBe(300);
      expect(slots.data.every((d, i) => d === arrays[i])).toBe(true);
      expect(slots.front + prefix.extent).toBeLessThanOrEqual(slots.data[0].length);
      expect(intact(1)).toBe(true);
      // Eight slots leave no room behind them: a prefix no request holds is evicted; one a request holds moves
      // with the rows into arrays that have room for both.
      const held = prefix.match(prompts[1], 300);
      prefix.acquire(held);
      slots.reserve(8, 500, []);
      expect(slots.data[0]).not.toBe(arrays[0]);
      expect(slots.front + prefix.extent).toBeLessThanOrEqual(slots.data[0].length);
      expect(intact(1)).toBe(true);
      prefix.release(held);
    } finally {
      await runner.release();
    }
  });
});
