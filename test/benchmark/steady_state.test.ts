import { describe, expect, it } from 'vitest';
import { compareHalves } from '../../src/lib/benchmark/steady_state.js';
import { formatHalves } from '../../src/lib/report/bench_report.js';
import { BenchDriver } from '../../src/lib/target/driver.js';
import type { RequestOutcome } from '../../src/lib/target/driver.js';
import type { BenchTarget, Sent } from '../../src/lib/target/targets.js';
import type { RequestSpec } from '../../src/lib/workload/request_spec.js';

/** Outcomes sent in order, with the TTFT `ttft(i)` and a TPOT of 5 ms (4 tokens). */
const outcomes = (n: number, ttft: (i: number) => number): RequestOutcome[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    inputTokens: 8,
    outputTokens: 4,
    ttftMs: ttft(i),
    e2eMs: ttft(i) + 15,
    itlMs: [5, 5, 5],
    sentAtMs: i * 10,
    error: null,
    cachedTokens: null,
    serverTtftMs: null,
  }));

describe("the run's halves (a run not in a steady state)", () => {
  it('flags a first half slower than the second, with both medians, and says the target was warming up', () => {
    // A cold server: the first 12 requests take 50-61 ms to their first token, the last 12 take 13-24.
    const halves = compareHalves(outcomes(24, (i) => (i < 12 ? 50 + i : 13 + (i - 12))));
    const ttft = halves.find((h) => h.figure === 'ttft')!;
    expect(ttft.differs).toBe(true);
    expect(ttft.firstMedianMs).toBeCloseTo(55.5, 5);
    expect(ttft.secondMedianMs).toBeCloseTo(18.5, 5);
    expect(halves.find((h) => h.figure === 'tpot')!.differs).toBe(false);
    const text = formatHalves(halves);
    expect(text).toMatch(/TTFT p50 was 55\.50 ms in the first half of the run and 18\.50 ms in the second \(Mann-Whitney p[<=]/);
    expect(text).toMatch(/still warming up/);
  });

  it('says nothing of a steady run, nor of a difference too small to matter however significant', () => {
    expect(formatHalves(compareHalves(outcomes(40, (i) => 20 + (i % 5))))).toBe('');
    // 5% slower in the second half, every time: significant, but under the tenth that calls a run unsteady.
    const small = compareHalves(outcomes(40, (i) => (i < 20 ? 20 : 21) + (i % 2) * 0.01));
    expect(small.find((h) => h.figure === 'ttft')!.p).toBeLessThan(0.01);
    expect(formatHalves(small)).toBe('');
  });

  it('names a queue building up when the second half is the slower', () => {
    expect(formatHalves(compareHalves(outcomes(24, (i) => 10 + i * 5)))).toMatch(/A queue built up/);
  });
});

/** A target that is slow the first time it sees a prompt length (a server compiling and allocating per shape), fast (0.5 ms) after. */
class WarmingTarget implements BenchTarget {
  readonly name = 'warming';
  readonly ids: string[] = [];
  /** The most requests in flight at once. */
  most = 0;
  private inFlight = 0;
  private readonly seen = new Set<number>();
  constructor(private readonly slowMs: number) {}
  async send(spec: RequestSpec, onChunk: (atMs: number) => void): Promise<Sent> {
    const slow = !this.seen.has(spec.inputTokens);
    this.seen.add(spec.inputTokens);
    this.ids.push(spec.id);
    // The first token's time is given, not waited for: the TTFTs the driver sees are exact, whatever the machine's load.
    const start = performance.now();
    this.most = Math.max(this.most, ++this.inFlight);
    await Promise.resolve();
    onChunk(start + (slow ? this.slowMs : 0.5));
    this.inFlight--;
    return { outputTokens: 1 };
  }
}

const workload = { name: 'w', requests: Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, inputIds: [1, 2], inputTokens: 10 + i * 10, outputTokens: 1 })) };
const driver = (warmupMaxS: number) =>
  new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: 4, seed: 1, warmup: 1, warmupMaxS, replayArrivals: false });

describe('warm-up rounds (--warmup-max-s)', () => {
  it("sends the workload's shapes together, round after round, until TTFT settles", async () => {
    const target = new WarmingTarget(40);
    const sent = await driver(10).warmup(target, workload);
    // The copy, a slow round (seven new shapes), a fast one, and a second fast one that shows TTFT has settled.
    expect(sent).toBe(1 + 3 * 8);
    expect(target.ids[0]).toBe('warmup-r0');
    // A round spans the shapes, the shortest prompt to the longest, twice --max-concurrency of them, at most that many at once.
    const round = ['r0', 'r3', 'r5', 'r8', 'r11', 'r14', 'r16', 'r19'];
    expect(target.ids.slice(1, 9)).toEqual(round.map((id) => `warmup-r0-${id}`));
    expect(target.ids.slice(-8)).toEqual(round.map((id) => `warmup-r2-${id}`));
    expect(target.most).toBe(4);
  });

  it('stops after two rounds on a warm target, and sends only the copies without --warmup-max-s', async () => {
    const warm = new WarmingTarget(1);
    expect(await driver(10).warmup(warm, workload)).toBe(1 + 2 * 8);
    const plain = new WarmingTarget(1);
    expect(await driver(0).warmup(plain, workload)).toBe(1);
  });
});
