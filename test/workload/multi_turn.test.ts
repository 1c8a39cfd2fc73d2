import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/lib/benchmark/run_bench.js';
import type { BenchOptions } from '../../src/lib/benchmark/run_bench.js';
import { multiTurnHitRate, multiTurnWorkload } from '../../src/lib/workload/multi_turn.js';
import type { TestServer } from '../helpers/server.js';
import { startServer } from '../helpers/server.js';

const options = (o: Partial<BenchOptions> = {}): BenchOptions => ({
  endpoint: 'completions',
  engine: {},
  tracing: { level: 0, modules: ['request'], sampleRate: 1, includeContent: false },
  workload: { dataset: 'multi-turn', count: 12, turns: 4, seed: 3, inputLen: 40, outputLen: 12, rangeRatio: 0.5 },
  driver: { requestRate: Infinity, burstiness: 1, maxConcurrency: Infinity, seed: 1, warmup: 0, replayArrivals: false, sessions: 2 },
  slo: null,
  compareLevels: null,
  repeats: 1,
  targetCi: null,
  budgetMs: 1000,
  ...o,
});

describe('multi-turn conversations (bench --dataset multi-turn)', () => {
  it('computes the hit rate the conversations allow: all but the new message and the last answer token', () => {
    const decode = (ids: readonly number[]): string => ids.join(' ');
    const w = multiTurnWorkload({ count: 2, turns: 2, inputLen: 10, outputLen: 5, rangeRatio: 1, seed: 1, vocabSize: 100 }, decode);
    expect(w.conversations!.map((c) => c.turns.length)).toEqual([2]);
    expect(w.requests.map((r) => r.id)).toEqual(['chat-0-t0']);
    // Turn 0: 10 tokens, none cached. Turn 1: 10 + 5 + 10 tokens, of which 10 + 5 - 1 cached.
    expect(multiTurnHitRate(w.conversations!)).toBeCloseTo(14 / 35, 10);
  });

  it('sends each turn with the conversation so far, answers included, and the engine reuses all of it but the new message', async () => {
    // One session: every turn is prefilled alone, and reuses exactly what the cache holds.
    // Two: turns of both sessions may share a dense prefill run, whose rows start at one column, so a row may give
    // up fewer cached tokens than it is worth waiting a run for (prefix_admission.ts: 32), never more.
    for (const [sessions, slack] of [
      [1, 0],
      [2, 31],
    ]) {
      const r = await runBench(options({ driver: { ...options().driver, sessions } }));
      expect(r.metrics.completed).toBe(12);
      const byId = new Map(r.outcomes.map((o) => [o.id, o]));
      for (const [id, o] of byId) {
        const m = /^(chat-\d+)-t(\d+)$/.exec(id)!;
        const k = Number(m[2]);
        if (k === 0) continue;
        const before = byId.get(`${m[1]}-t${k - 1}`)!;
        // The turn's prompt is the previous prompt, its answer and a new message; the cache holds all of the first two but the answer's last token.
        const held = before.inputTokens + before.outputTokens - 1;
        expect(o.cachedTokens).toBeLessThanOrEqual(held);
        expect(o.cachedTokens).toBeGreaterThanOrEqual(held - slack);
      }
      expect(r.expectedHitRate).toBeGreaterThan(0.5);
      expect(Math.abs(r.metrics.cache_hit_rate! - r.expectedHitRate!)).toBeLessThan(0.05);
    }
  });

  describe('against a server (answers come back as text)', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startServer();
    });
    afterAll(async () => {
      await s.stop();
    });

    it('reports a hit rate within 5 points of the analytical one', async () => {
      const r = await runBench(options({ urls: [s.url] }));
      expect(r.metrics.completed).toBe(12);
      expect(Math.abs(r.metrics.cache_hit_rate! - r.expectedHitRate!)).toBeLessThan(0.05);
    });
  });
});
