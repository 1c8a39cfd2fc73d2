import { describe, expect, it } from 'vitest';
import { BenchDriver } from '../../src/lib/target/driver.js';
import { summarize } from '../../src/lib/benchmark/statistics.js';
import { distribution, meanCi, percentile } from '../../src/lib/stats/distribution.js';
import type { BenchTarget } from '../../src/lib/target/targets.js';
import type { RequestSpec } from '../../src/lib/workload/request_spec.js';

/** A target with known delays: first token after `ttft` ms, then one token every `gap` ms. */
class FakeTarget implements BenchTarget {
  readonly name = 'fake';
  constructor(
    private readonly ttft: number,
    private readonly gap: number,
    private readonly failEvery = 0,
  ) {}
  private calls = 0;
  async send(spec: RequestSpec, onChunk: (atMs: number) => void): Promise<{ outputTokens: number }> {
    this.calls++;
    if (this.failEvery && this.calls % this.failEvery === 0) throw new Error('boom');
    await new Promise((r) => setTimeout(r, this.ttft));
    onChunk(performance.now());
    for (let i = 1; i < spec.outputTokens; i++) {
      await new Promise((r) => setTimeout(r, this.gap));
      onChunk(performance.now());
    }
    return { outputTokens: spec.outputTokens };
  }
}

const specs = (n: number, out: number): RequestSpec[] =>
  Array.from({ length: n }, (_, i) => ({ id: `r${i}`, inputIds: [1, 2, 3], inputTokens: 3, outputTokens: out }));

describe('bench statistics', () => {
  it('computes percentiles and spread as numpy does', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(xs, 50)).toBe(5.5);
    expect(percentile(xs, 90)).toBeCloseTo(9.1, 10);
    expect(percentile(xs, 99)).toBeCloseTo(9.91, 10);
    const d = distribution([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(d.mean).toBe(5);
    expect(d.std).toBe(2);
    expect(d.median).toBe(4.5);
  });

  it('derives TTFT, TPOT, E2E, throughput and goodput from hand-made outcomes', () => {
    const outcomes = [
      {
        id: 'a',
        inputTokens: 10,
        outputTokens: 5,
        ttftMs: 100,
        e2eMs: 500,
        itlMs: [100, 100, 100, 100],
        sentAtMs: 0,
        error: null,
        cachedTokens: 0,
        serverTtftMs: 90,
      },
      { id: 'b', inputTokens: 20, outputTokens: 3, ttftMs: 300, e2eMs: 500, itlMs: [100, 100], sentAtMs: 0, error: null, cachedTokens: 15, serverTtftMs: 280 },
      { id: 'c', inputTokens: 5, outputTokens: 0, ttftMs: null, e2eMs: 50, itlMs: [], sentAtMs: 0, error: 'HTTP 500', cachedTokens: null, serverTtftMs: null },
    ];
    const m = summarize({ outcomes, durationMs: 2000, peakConcurrency: 3, meanConcurrency: 1.5 }, { ttftMs: 200 });
    expect(m.completed).toBe(2);
    expect(m.failed).toBe(1);
    expect(m.failures).toEqual([{ kind: 'HTTP 500', count: 1, example: 'HTTP 500' }]);
    expect(m.total_input_tokens).toBe(30);
    expect([m.cached_tokens, m.cache_hit_rate]).toEqual([15, 0.5]);
    // Transport: client TTFT less the server's own, for the requests that reported it (a: 10 ms, b: 20 ms).
    expect(m.transport_ms).toMatchObject({ mean: 15, median: 15 });
    expect(m.total_output_tokens).toBe(8);
    expect(m.request_throughput).toBe(1);
    expect(m.output_throughput).toBe(4);
    expect(m.ttft_ms.mean).toBe(200);
    expect(m.tpot_ms.mean).toBe(100); // (500-100)/4 and (500-300)/2
    expect(m.itl_ms.mean).toBe(100);
    expect(m.e2e_latency_ms.mean).toBe(500);
    expect(m.goodput).toBe(0.5); // only a meets TTFT <= 200
  });

  it('times a target with known delays from the client side', async () => {
    const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: 2, seed: 1, warmup: 0, replayArrivals: false });
    const run = await driver.run(new FakeTarget(40, 10), { name: 'fake', requests: specs(4, 6) });
    const m = summarize(run);
    expect(m.completed).toBe(4);
    expect(m.peak_concurrency).toBe(2);
    expect(m.ttft_ms.mean).toBeGreaterThanOrEqual(39);
    expect(m.tpot_ms.mean).toBeGreaterThanOrEqual(9.5);
    expect(m.itl_ms.median).toBeGreaterThanOrEqual(9.5);
    // Two waves of two requests, each about 40 + 5 × 10 ms.
    expect(run.durationMs).toBeGreaterThanOrEqual(180);
    expect(m.mean_concurrency).toBeGreaterThan(1.5);
  });

  it('counts failures with their reasons and keeps going', async () => {
    const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: 4, seed: 1, warmup: 0, replayArrivals: false });
    const m = summarize(await driver.run(new FakeTarget(1, 1, 3), { name: 'fake', requests: specs(9, 2) }));
    expect(m.completed).toBe(6);
    expect(m.failures).toEqual([{ kind: 'boom', count: 3, example: 'boom' }]);
  });

  it('gives a t-based confidence interval', () => {
    const { mean, ci95 } = meanCi([1, 2, 3]);
    expect(mean).toBe(2);
    expect(ci95).toBeCloseTo((4.303 * 1) / Math.sqrt(3), 3);
  });
});
