import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlotCache } from '../../src/lib/engine/kv/slot_cache.js';
import { ModelRunner } from '../../src/lib/engine/onnx/model_runner.js';
import { tinySlotModel } from '../helpers/models.js';

describe('the slot cache', () => {
  it('takes a new shape in the arrays it has while no row runs, and allocates again only to grow or to keep rows', async () => {
    const runner = await ModelRunner.load({
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
    try {
      const budget = 4096;
      const cache = new SlotCache(runner, 8, 1024, budget);
      cache.reserve(1, 900, []);
      const first = cache.data[0];
      const shape = (): [number, number] => [cache.slots, cache.capacity];
      expect(cache.capacity).toBeGreaterThanOrEqual(900);
      // A lone shorter request: a stale long capacity would slow every step, so the shape changes, in place.
      cache.reserve(1, 200, []);
      expect(cache.capacity).toBeLessThan(900);
      expect(cache.data[0]).toBe(first);
      const [slots, capacity] = shape();
      expect(slots * capacity).toBeLessThanOrEqual(budget);
      // A running row of 100 tokens and a longer capacity: its tokens are copied into new arrays.
      cache.data[0].fill(7, 0, runner.io.kvHeads * 100 * runner.io.headDim);
      cache.reserve(2, 1000, [100]);
      expect(cache.data[0]).not.toBe(first);
      expect(cache.capacity).toBeGreaterThanOrEqual(1000);
      expect(cache.data[0][0]).toBe(7);
    } finally {
      await runner.release();
    }
  });
});
