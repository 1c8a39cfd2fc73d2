import { describe, expect, it } from 'vitest';
import { percentile } from '../../src/lib/stats/distribution.js';
import { Rng } from '../../src/lib/stats/rng.js';
import { fitTimingModel, simulate } from '../../src/lib/replay/simulator.js';
import type { SimRequest, TimingModel } from '../../src/lib/replay/simulator.js';
import { arrivalOffsets } from '../../src/lib/workload/arrivals.js';

const EXACT = { low: 1, high: 1 };
const TRUTH: TimingModel = { prefill: { intercept: 2, perToken: 0.05, spread: EXACT }, decodeStep: { intercept: 1, perRequest: 0.2, spread: EXACT }, fittedOn: 0, beforeQueueMs: 0.5, afterDecodeMs: 0 };
const LIMITS = { maxRunningRequests: 8, maxPrefillTokens: 512 };

/** A capture produced by a known timing model: the simulator must find the model again. */
function synthetic(n: number): SimRequest[] {
  const rng = new Rng(11);
  const arrivals = arrivalOffsets(rng, n, 40, 1);
  const base = arrivals.map((arrivalMs, i) => ({ id: `s${i}`, arrivalMs, inputTokens: 16 + Math.floor(rng.next() * 200), outputTokens: 8 + Math.floor(rng.next() * 40), ttftMs: null, e2eMs: 0, stages: {} }));
  return simulate(base, TRUTH, LIMITS).map((t, i) => ({ ...base[i], ttftMs: t.ttftMs, e2eMs: t.e2eMs, stages: t.stages }));
}

describe('the replay simulator', () => {
  it('recovers the timing model of a capture it generated, and its E2E p50 within 5%', () => {
    const capture = synthetic(300);
    const fitted = fitTimingModel(capture);
    expect(fitted.prefill.perToken).toBeCloseTo(TRUTH.prefill.perToken, 2);
    expect(fitted.prefill.intercept).toBeCloseTo(TRUTH.prefill.intercept, 0);
    const predicted = simulate(capture, fitted, LIMITS);
    const p50 = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
    const truth = p50(capture.map((r) => r.e2eMs));
    expect(Math.abs(p50(predicted.map((r) => r.e2eMs)) - truth) / truth).toBeLessThan(0.05);
    expect(fitted.fittedOn).toBe(300);
  });

  it('widens its band with the scatter of the capture', () => {
    const rng = new Rng(5);
    // The same capture with every prefill ±40% at random: the fit keeps the line, the spread says how far off it can be.
    const clean = fitTimingModel(synthetic(300)).prefill.spread;
    const noisy = fitTimingModel(synthetic(300).map((r) => ({ ...r, stages: { ...r.stages, prefill_forward: r.stages.prefill_forward * (0.6 + 0.8 * rng.next()) } }))).prefill.spread;
    expect(clean.low).toBeLessThanOrEqual(1);
    expect(clean.high).toBeGreaterThanOrEqual(1);
    expect(noisy.high / noisy.low).toBeGreaterThan((clean.high / clean.low) * 1.2);
  });

  it('answers what-ifs: fewer running requests means more queueing', () => {
    const capture = synthetic(300);
    const fitted = fitTimingModel(capture);
    const queue = (limit: number): number => simulate(capture, fitted, { ...LIMITS, maxRunningRequests: limit }).reduce((a, r) => a + r.stages.queue_wait, 0);
    expect(queue(2)).toBeGreaterThan(queue(8));
  });

  it('needs stage timings', () => {
    expect(() => fitTimingModel([{ id: 'a', arrivalMs: 0, inputTokens: 4, outputTokens: 2, ttftMs: 1, e2eMs: 2, stages: {} }])).toThrow(/needs an sgl trace with stage timings/);
  });
});
