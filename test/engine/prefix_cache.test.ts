import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { PrefixCache } from '../../src/lib/engine/policy/prefix_cache.js';
import type { GenerateRequest } from '../../src/lib/protocol.js';
import { Rng } from '../../src/lib/stats/rng.js';
import { collect } from '../helpers/collect.js';
import { tinyGenaiGqaModel, tinyGenaiReference, tinyGqaFp16Model, tinyGqaModel, tinySlotModel } from '../helpers/models.js';
import type { Collected } from '../helpers/collect.js';

/** Two KV tensors, two heads, head_dim 1: a token's value in head h of tensor t is t·1000 + h·100 + its id. */
const LAYOUT = { tensors: 2, kvHeads: 2, headDim: 1, newData: (n: number) => new Float32Array(n), budget: 4096 };

/** One row of dense present tensors [1, heads, length, 1] holding `ids` from column `start`. */
function rowOf(ids: readonly number[], length = ids.length, start = 0): Float32Array[] {
  return [0, 1].map((t) => {
    const d = new Float32Array(2 * length);
    for (let h = 0; h < 2; h++) ids.forEach((id, j) => (d[h * length + start + j] = t * 1000 + h * 100 + id));
    return d;
  });
}

/** The values `copyOut` writes for `count` tokens of `ids` into a one-row past of `length` ending at `end`. */
function copied(cache: PrefixCache, ids: number[], count: number, length: number, end = length): number[][] {
  const dst = [new Float32Array(2 * length), new Float32Array(2 * length)];
  cache.copyOut(cache.match(ids, ids.length), count, dst, 0, length, end);
  return dst.map((d) => [...d]);
}

describe('the prefix cache', () => {
  it('matches the longest cached prefix, through split edges, and copies its KV out in order', () => {
    const cache = new PrefixCache(LAYOUT);
    expect(cache.insert([1, 2, 3, 4, 5], rowOf([1, 2, 3, 4, 5]), 0, 5, 0, 1000)).toEqual({ inserted: 5, evicted: 0 });
    // Diverging after three tokens splits the edge: the shared three are not stored twice.
    expect(cache.insert([1, 2, 3, 9, 9, 9], rowOf([1, 2, 3, 9, 9, 9], 8, 2), 0, 8, 2, 1000)).toEqual({ inserted: 3, evicted: 0 });
    expect(cache.size).toBe(8);
    expect(cache.match([1, 2, 3, 4, 5, 6]).length).toBe(5);
    expect(cache.match([1, 2, 3, 9, 7]).length).toBe(4);
    expect(cache.match([7, 1, 2]).length).toBe(0);
    // A prompt keeps one token to prefill: a full match stops one short.
    expect(cache.match([1, 2, 3, 4, 5]).length).toBe(4);
    // Four tokens of [1, 2, 3, 9, ...] into a past of 6 columns, right-aligned.
    const [k, v] = copied(cache, [1, 2, 3, 9, 9, 9], 4, 6);
    expect(k).toEqual([0, 0, 1, 2, 3, 9, 0, 0, 101, 102, 103, 109]);
    expect(v).toEqual([0, 0, 1001, 1002, 1003, 1009, 0, 0, 1101, 1102, 1103, 1109]);
  });

  it('evicts the least recently used prefixes first, and never what a request holds', () => {
    const cache = new PrefixCache(LAYOUT);
    cache.insert([1, 1, 1, 1], rowOf([1, 1, 1, 1]), 0, 4, 0, 100);
    cache.insert([2, 2, 2, 2], rowOf([2, 2, 2, 2]), 0, 4, 0, 100);
    cache.insert([3, 3, 3, 3], rowOf([3, 3, 3, 3]), 0, 4, 0, 100);
    cache.match([1, 1, 1, 1, 0]); // 1 is now the most recently used; 2 the least.
    const held = cache.match([3, 3, 3, 3, 0]);
    cache.acquire(held);
    expect(cache.pinned).toBe(4);
    expect(cache.evict(4)).toBe(4); // 2, the least recently used, is enough
    expect(cache.match([2, 2, 2, 2, 0]).length).toBe(0);
    expect(cache.match([3, 3, 3, 3, 0]).length).toBe(4);
    expect(cache.evict(8)).toBe(4); // then 1; 3 still held
    cache.release(held);
    expect(cache.pinned).toBe(0);
    expect(cache.evict(8)).toBe(4);
    expect(cache.size).toBe(0);
  });

  it('inserts within the room it is given, evicting older prefixes for a new one', () => {
    const cache = new PrefixCache(LAYOUT);
    cache.insert([1, 2, 3, 4], rowOf([1, 2, 3, 4]), 0, 4, 0, 6);
    // Six tokens of room: the new prompt's six push the old four out.
    expect(cache.insert([5, 6, 7, 8, 9, 10], rowOf([5, 6, 7, 8, 9, 10]), 0, 6, 0, 6)).toEqual({ inserted: 6, evicted: 4 });
    expect(cache.size).toBe(6);
    // Room for three: the prefix that fits is kept, the rest of the prompt is not.
    expect(cache.insert([20, 21, 22, 23, 24], rowOf([20, 21, 22, 23, 24]), 0, 5, 0, 3)).toMatchObject({ inserted: 3 });
    expect(cache.size).toBe(3);
    expect(cache.match([20, 21, 22, 23, 24]).length).toBe(3);
  });

  it('refuses to split a prefix a request holds (its match would copy the wrong tokens)', () => {
    const cache = new PrefixCache(LAYOUT);
    cache.insert([1, 2, 3, 4], rowOf([1, 2, 3, 4]), 0, 4, 0, 100);
    const held = cache.match([1, 2, 3, 4, 5]);
    cache.acquire(held);
    expect(() => cache.insert([1, 2, 9], rowOf([1, 2, 9]), 0, 3, 0, 100)).toThrow(/held by a request cannot be split/);
    cache.release(held);
    expect(cache.insert([1, 2, 9], rowOf([1, 2, 9]), 0, 3, 0, 100).inserted).toBe(1);
  });

  it('keeps every token of a split edge, split where a page ends or within one', () => {
    const cache = new PrefixCache(LAYOUT);
    const a = Array.from({ length: 70 }, (_, j) => j + 1);
    const b = [...a.slice(0, 64), 90, 91]; // splits a's edge where its second page ends
    const c = [...a.slice(0, 40), 95, 96]; // then within the second page
    for (const p of [a, b, c]) cache.insert(p, rowOf(p), 0, p.length, 0, 1000);
    expect(cache.size).toBe(70 + 2 + 2);
    for (const p of [a, b, c]) {
      const [k, v] = copied(cache, p, p.length, p.length);
      expect(k).toEqual([...p, ...p.map((id) => 100 + id)]);
      expect(v).toEqual([...p.map((id) => 1000 + id), ...p.map((id) => 1100 + id)]);
    }
  });

  it('inserts only what its pages hold, evicting for pages when small prefixes leave them part empty', () => {
    // Four pages of 32 tokens: four one-token prefixes take them all, whatever room the budget leaves.
    const cache = new PrefixCache({ ...LAYOUT, budget: 128 });
    for (const id of [1, 2, 3, 4]) cache.insert([id], rowOf([id]), 0, 1, 0, 1000);
    expect(cache.size).toBe(4);
    // A fifth pushes the least recently used one out; a prompt longer than the pages holds what fits.
    expect(cache.insert([5], rowOf([5]), 0, 1, 0, 1000)).toEqual({ inserted: 1, evicted: 1 });
    expect(cache.match([1, 0]).length).toBe(0);
    const long = Array.from({ length: 200 }, (_, j) => 6 + (j % 90));
    expect(cache.insert(long, rowOf(long), 0, 200, 0, 1000).inserted).toBe(128);
    expect(cache.size).toBe(128);
  });

  it('copies out what was put in through random inserts, splits, evictions and a front that moves its pages (seeded)', () => {
    // A token's K/V depends on its position and id here, as a prefix's does on the prefix: prompts that share
    // a prefix share its values. 64 pages of 32 tokens, a front of up to half of them.
    const tokens = 2048;
    const data = [0, 1].map(() => new Float32Array(2 * tokens));
    const arena = { front: 0, arrays: () => data };
    const cache = new PrefixCache({ ...LAYOUT, budget: tokens });
    cache.useArena(arena);
    const rng = new Rng(7);
    const pick = (n: number): number => Math.floor(rng.next() * n);
    const kv = (t: number, h: number, j: number, id: number): number => t * 100000 + h * 10000 + j * 10 + id;
    const bases = Array.from({ length: 4 }, () => Array.from({ length: 200 }, () => pick(10)));
    const seen: number[][] = [];
    for (let op = 0; op < 400; op++) {
      const r = rng.next();
      if (r < 0.6) {
        const p = [...bases[pick(4)].slice(0, pick(200)), ...Array.from({ length: 1 + pick(100) }, () => pick(10))];
        const src = [0, 1].map((t) => new Float32Array(2 * p.length).map((_, k) => kv(t, Math.floor(k / p.length), k % p.length, p[k % p.length])));
        cache.insert(p, src, 0, p.length, 0, tokens);
        seen.push(p);
      } else if (r < 0.8) {
        arena.front = 2 * 32 * pick(32);
        expect(cache.vacate(arena.front)).toBe(true);
        expect(arena.front + cache.extent).toBeLessThanOrEqual(2 * tokens);
      } else cache.evict(1 + pick(300));
      for (const p of seen.slice(-5)) {
        const n = cache.match(p, p.length).length;
        const want = (t: number): number[] => [0, 1].flatMap((h) => p.slice(0, n).map((id, j) => kv(t, h, j, id)));
        expect(copied(cache, p, n, n)).toEqual([want(0), want(1)]);
      }
    }
    expect(cache.size).toBeGreaterThan(0);
  });

  it("a leaf evicted leaves its parent evictable at the parent's own age", () => {
    const cache = new PrefixCache(LAYOUT);
    cache.insert([1, 2, 3, 4], rowOf([1, 2, 3, 4]), 0, 4, 0, 100);
    cache.insert([1, 2, 7, 7], rowOf([1, 2, 7, 7]), 0, 4, 0, 100); // splits: [1,2] → [3,4], [7,7]
    cache.insert([9, 9], rowOf([9, 9]), 0, 2, 0, 100);
    expect(cache.size).toBe(8);
    // Everything goes when asked for everything, interior nodes included.
    expect(cache.evict(100)).toBe(8);
    expect(cache.size).toBe(0);
  });
});

for (const [layout, modelPath, referencePath] of [
  ['dense', undefined, undefined],
  ['slot', tinySlotModel(), undefined],
  ['gqa', tinyGqaModel(), undefined],
  ['gqa, fp16 cache', tinyGqaFp16Model(), undefined],
  ["gqa, onnxruntime-genai's interface", tinyGenaiGqaModel(), tinyGenaiReference()],
] as const) {
  describe(`the engine with its prefix cache (${layout} KV layout)`, () => {
    const greedy = (inputIds: number[], maxTokens = 10): GenerateRequest => ({ inputIds, sampling: { temperature: 0, maxTokens, ignoreEos: true } });
    const rng = new Rng(42);
    const ids = (n: number): number[] => Array.from({ length: n }, () => 10 + Math.floor(rng.next() * 5000));
    const shared = ids(48);
    /** Prompts that hit, miss and partly hit: a shared prefix with different tails, one prompt again, one of a prefix of another. */
    const prompts = [[...shared, ...ids(12)], [...shared, ...ids(7)], [...shared.slice(0, 30), ...ids(20)], ids(40), [...shared, ...ids(3)]];
    prompts.push([...prompts[0]], prompts[1].slice(0, 52));
    let cold: Engine;
    let reference: number[][];
    beforeAll(async () => {
      cold = await Engine.create({ modelPath: referencePath, disablePrefixCache: true });
      reference = [];
      for (const p of prompts) reference.push((await collect(cold, greedy(p))).tokens);
    });
    afterAll(() => cold?.shutdown());

    it('gives the same greedy tokens as prefilling from scratch, one request at a time, and says how much it reused', async () => {
      const engine = await Engine.create({ modelPath });
      try {
        expect(engine.info.prefixCache.on).toBe(true);
        const got: Collected[] = [];
        for (const p of prompts) got.push(await collect(engine, greedy(p)));
        expect(got.map((g) => g.tokens)).toEqual(reference);
        const cached = got.map((g) => g.chunks[g.chunks.length - 1].usage.cachedTokens);
        // Nothing for the first and the unrelated one; the shared 48, then 30; a repeated prompt all but its last token.
        expect(cached).toEqual([0, 48, 30, 0, 48, prompts[0].length - 1, 51]);
        expect(engine.stats().cacheTokens).toBeGreaterThan(0);
      } finally {
        await engine.shutdown();
      }
      expect((await collect(cold, greedy(prompts[0]))).chunks.at(-1)!.usage.cachedTokens).toBe(0);
    });

    it("reuses a finished request's answer for the next turn that carries it", async () => {
      const engine = await Engine.create({ modelPath });
      try {
        const first = await collect(engine, greedy(prompts[0], 8));
        // The next turn: the prompt, the answer but its last token (whose KV was never computed), and a new question.
        const next = [...prompts[0], ...first.tokens.slice(0, 7), ...ids(5)];
        const second = await collect(engine, greedy(next, 4));
        expect(second.chunks.at(-1)!.usage.cachedTokens).toBe(prompts[0].length + 7);
        expect(second.tokens).toEqual((await collect(cold, greedy(next, 4))).tokens);
      } finally {
        await engine.shutdown();
      }
    });

    it('gives the same tokens when prompts that share prefixes run in one batch, each from its own match', async () => {
      const engine = await Engine.create({ modelPath, maxRunningRequests: 8 });
      try {
        await collect(engine, greedy(prompts[0], 2));
        const together = await Promise.all(prompts.map((p) => collect(engine, greedy(p))));
        expect(together.map((g) => g.tokens)).toEqual(reference);
        expect(together.some((g) => g.chunks.at(-1)!.usage.cachedTokens > 0)).toBe(true);
      } finally {
        await engine.shutdown();
      }
    });

    it('sent all at once, prompts sharing a system prompt wait a run for it rather than all computing it', async () => {
      const engine = await Engine.create({ modelPath });
      try {
        const systems = [ids(64), ids(64)];
        // Two groups of four, interleaved: run together, every row would compute its group's system prompt.
        const batch = [0, 1, 0, 1, 0, 1, 0, 1].map((g) => [...systems[g], ...ids(8)]);
        const runs = await Promise.all(batch.map((p) => collect(engine, greedy(p, 4))));
        const cached = runs.map((r) => r.chunks.at(-1)!.usage.cachedTokens);
        // The first of each group computes it; the other three find it, whole.
        expect(cached.reduce((a, b) => a + b, 0)).toBe(6 * 64);
        expect(cached.filter((c) => c === 0)).toHaveLength(2);
      } finally {
        await engine.shutdown();
      }
    });

    it('evicts under a budget that forces it every few steps without corrupting a running request', async () => {
      // 0.06 MiB of the tiny model's 256-byte tokens: 245 tokens for the batch and the cache together.
      const engine = await Engine.create({ modelPath, kvCacheMb: 0.06, maxRunningRequests: 3 });
      // Shared prefixes (hits) and prompts of their own (every insert evicts).
      const longer = [...prompts.map((p) => p.slice(0, 40)), ...Array.from({ length: 5 }, () => ids(40))];
      const expected: number[][] = [];
      for (const p of longer) expected.push((await collect(cold, greedy(p, 20))).tokens);
      try {
        let peakCache = 0;
        const runs = await Promise.all(
          [...longer, ...longer].map(
            (p, i) =>
              new Promise<Collected>((resolve) =>
                setTimeout(() => resolve(collect(engine, greedy(p, 20), () => (peakCache = Math.max(peakCache, engine.stats().cacheTokens)))), 3 * i),
              ),
          ),
        );
        expect(runs.map((r) => r.tokens)).toEqual([...expected, ...expected]);
        expect(peakCache).toBeGreaterThan(0);
        // Room for about one prompt beside three running rows: prompt after prompt pushes older ones out.
        expect(engine.stats().evictedTokens).toBeGreaterThan(10 * 40);
        expect(engine.stats().cacheTokens + engine.stats().kvTokens).toBeLessThanOrEqual(engine.info.limits.maxTotalTokens);
      } finally {
        await engine.shutdown();
      }
    });
  });
}
