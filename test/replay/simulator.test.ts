import { describe, expect, it } from 'vitest';
import { percentile } from '../../src/lib/stats/distribution.js';
import { Rng } from '../../src/lib/stats/rng.js';
import { fitTimingModel, scaledModel, simulate } from '../../src/lib/replay/simulator.js';
import type { SimRequest, TimingModel } from '../../src/lib/replay/simulator.js';
import { arrivalOffsets } from '../../src/lib/workload/arrivals.js';
import { engineSteps } from '../../src/lib/replay/engine_steps.js';
import { fitPrefill } from '../../src/lib/replay/prefill_fit.js';
import { variation } from '../../src/lib/stats/regression.js';
import type { TraceEventLine } from '../../src/lib/tracing/trace_file/format.js';

const EXACT = { low: 1, high: 1 };
const TRUTH: TimingModel = {
  prefill: { intercept: 2, perToken: 0.05, perTokenSquared: 0, spread: EXACT },
  decodeStep: { intercept: 1, perRequest: 0.2, perRowToken: 0, spread: EXACT },
  repack: { intercept: 0, perRowToken: 0 },
  basis: 'requests',
  fittedSteps: 0,
  covered: { rows: 0, rowTokens: 0 },
  fittedOn: 0,
  beforeQueueMs: 0.5,
  afterDecodeMs: 0,
};
const LIMITS = { maxRunningRequests: 8, maxPrefillTokens: 512 };

/** A capture produced by a known timing model: the simulator must find the model again. */
function synthetic(n: number): SimRequest[] {
  const rng = new Rng(11);
  const arrivals = arrivalOffsets(rng, n, 40, 1);
  const base = arrivals.map((arrivalMs, i) => ({
    id: `s${i}`,
    arrivalMs,
    inputTokens: 16 + Math.floor(rng.next() * 200),
    outputTokens: 8 + Math.floor(rng.next() * 40),
    ttftMs: null,
    e2eMs: 0,
    stages: {},
  }));
  return simulate(base, TRUTH, LIMITS).map((t, i) => ({ ...base[i], ttftMs: t.ttftMs, e2eMs: t.e2eMs, stages: t.stages }));
}

describe('the replay simulator', () => {
  it('recovers the timing model of a capture it generated, and its E2E p50 within 5%', () => {
    const capture = synthetic(300);
    const fitted = fitTimingModel(capture);
    expect(fitted.prefill.perToken).toBeCloseTo(TRUTH.prefill.perToken, 2);
    expect(fitted.prefill.intercept).toBeCloseTo(TRUTH.prefill.intercept, 0);
    const predicted = simulate(capture, fitted, LIMITS);
    const p50 = (xs: number[]): number =>
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      );
    const truth = p50(capture.map((r) => r.e2eMs));
    expect(Math.abs(p50(predicted.map((r) => r.e2eMs)) - truth) / truth).toBeLessThan(0.05);
    expect(fitted.fittedOn).toBe(300);
  });

  it('widens its band with the scatter of the capture', () => {
    const rng = new Rng(5);
    // The same capture with every prefill ±40% at random: the fit keeps the line, the spread says how far off it can be.
    const clean = fitTimingModel(synthetic(300)).prefill.spread;
    const noisy = fitTimingModel(
      synthetic(300).map((r) => ({ ...r, stages: { ...r.stages, prefill_forward: r.stages.prefill_forward * (0.6 + 0.8 * rng.next()) } })),
    ).prefill.spread;
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
    expect(() => fitTimingModel([{ id: 'a', arrivalMs: 0, inputTokens: 4, outputTokens: 2, ttftMs: 1, e2eMs: 2, stages: {} }])).toThrow(
      /needs an sgl trace with stage timings/,
    );
  });
});

describe('the step-level fit of a level-3 capture', () => {
  /** A worker track as the engine writes it: decode steps with their forward events, repacks with batch_formed, prefill chunks. */
  function workerEvents(): TraceEventLine[] {
    const rng = new Rng(3);
    const events: TraceEventLine[] = [];
    const at = (ms: number): number => Math.round(ms * 1000);
    let t = 0;
    for (let batch = 0; batch < 40; batch++) {
      const rows = 1 + Math.floor(rng.next() * 12);
      let past = 50 + Math.floor(rng.next() * 900);
      events.push({ name: 'chunked_prefill', ph: 'X', pid: 2, tid: 1, ts: at(t), dur: at(5) });
      t += 5;
      const repack = 0.5 + 0.001 * rows * past;
      events.push(
        { name: 'kv_repack', ph: 'X', pid: 2, tid: 1, ts: at(t), dur: at(repack) },
        { name: 'batch_formed', ph: 'i', pid: 2, tid: 1, ts: at(t + repack), args: { batch_id: batch, batch_size: rows } },
      );
      t += repack + 0.1;
      for (let k = 0; k < 20; k++) {
        const period = (1 + 0.5 * rows + 0.002 * rows * (past + 1)) * (0.97 + 0.06 * rng.next());
        // Every row records the same step: the reader must count it once.
        for (let r = 0; r < rows; r++) {
          events.push({ name: 'decode_forward', ph: 'X', pid: 2, tid: 1, ts: at(t), dur: at(period * 0.9), args: { rid: `r${r}` } });
          events.push({ name: 'forward', ph: 'i', pid: 2, tid: 1, ts: at(t + 0.01), args: { rid: `r${r}`, batch_size: rows, past_length: past } });
        }
        t += period;
        past++;
      }
      t += 50;
    }
    return events;
  }

  it('finds each step once and recovers the per-row, per-cached-token and repack costs', () => {
    const steps = engineSteps(workerEvents());
    expect(steps.decode).toHaveLength(800);
    expect(steps.repacks).toHaveLength(40);
    const fitted = fitTimingModel(synthetic(60), steps);
    expect(fitted.basis).toBe('steps');
    // 19 periods per batch: the last step of each is followed by idle time and the next prefill, not by a step.
    expect(fitted.fittedSteps).toBe(40 * 19);
    expect(fitted.decodeStep.perRequest).toBeCloseTo(0.5, 1);
    expect(fitted.decodeStep.perRowToken).toBeCloseTo(0.002, 3);
    expect(fitted.decodeStep.intercept).toBeCloseTo(1, 0);
    expect(fitted.repack.perRowToken).toBeCloseTo(0.001, 4);
    expect(fitted.decodeStep.spread.low).toBeGreaterThan(0.9);
    expect(fitted.decodeStep.spread.high).toBeLessThan(1.1);
  });

  it('falls back to per-request decode loops when the capture has no steps', () => {
    const fitted = fitTimingModel(synthetic(60), engineSteps([]));
    expect(fitted.basis).toBe('requests');
    expect(fitted.repack).toEqual({ intercept: 0, perRowToken: 0 });
  });

  it('charges each decode step for its rows and the padded cache, and a repack when a row leaves', () => {
    const model: TimingModel = {
      ...TRUTH,
      decodeStep: { intercept: 1, perRequest: 0.2, perRowToken: 0.01, spread: EXACT },
      repack: { intercept: 0.5, perRowToken: 0.001 },
      basis: 'steps',
      beforeQueueMs: 0,
    };
    const req = (id: string, inputTokens: number, outputTokens: number): SimRequest => ({
      id,
      arrivalMs: 0,
      inputTokens,
      outputTokens,
      ttftMs: null,
      e2eMs: 0,
      stages: {},
    });
    // Alone: 10 steps over a cache of 100 to 109 tokens.
    const [alone] = simulate([req('a', 100, 11)], model, LIMITS);
    expect(alone.stages.decode_loop).toBeCloseTo(10 * 1.2 + 0.01 * (101 + 110) * 5, 9);
    // Beside a 300-token prompt, its row is padded to 300: both rows pay for 300 to 309.
    const [short, long] = simulate([req('a', 100, 11), req('b', 300, 13)], model, { ...LIMITS, maxPrefillTokens: 1024 });
    expect(short.stages.decode_loop).toBeCloseTo(10 * 1.4 + 0.02 * (301 + 310) * 5, 9);
    // Then the short row leaves: one repack of the long row (310 tokens), and two steps alone.
    expect(long.stages.decode_loop - short.stages.decode_loop).toBeCloseTo(0.5 + 0.001 * 310 + (1.2 + 0.01 * 311) + (1.2 + 0.01 * 312), 9);
  });
});

/** A request to simulate (nothing captured of it). */
const arriving = (id: string, arrivalMs: number, inputTokens: number, outputTokens: number): SimRequest => ({
  id,
  arrivalMs,
  inputTokens,
  outputTokens,
  ttftMs: null,
  e2eMs: 0,
  stages: {},
});

describe('prefill in the simulator', () => {
  const model: TimingModel = {
    ...TRUTH,
    prefill: { intercept: 2, perToken: 0.05, perTokenSquared: 0.0001, spread: EXACT },
    decodeStep: { intercept: 3, perRequest: 0, perRowToken: 0, spread: EXACT },
    beforeQueueMs: 0,
  };
  const whole = (tokens: number): number => 2 + 0.05 * tokens + 0.0001 * tokens * tokens;

  it('runs a chunked prefill a chunk at a time, the running rows decoding a step after every chunk but the last', () => {
    // a decodes alone until b arrives; b's 1,000 tokens go in chunks of 256: four chunks, three steps of a between them.
    const reqs = [arriving('a', 0, 50, 40), arriving('b', 10, 1000, 2)];
    const limits = { ...LIMITS, maxPrefillTokens: 256 };
    const [a, b] = simulate(reqs, model, { ...limits, chunkedPrefill: true });
    expect(b.stages.prefill_forward).toBeCloseTo(whole(1000) + 3 * 3, 9);
    // Run whole (the dense layout), a waits through all of it.
    const [aDense, bDense] = simulate(reqs, model, limits);
    expect(bDense.stages.prefill_forward).toBeCloseTo(whole(1000), 9);
    // b's first token waits for a's three steps; a ends when it would have (the same steps, run earlier).
    expect(b.ttftMs! - bDense.ttftMs!).toBeCloseTo(3 * 3, 9);
    expect(a.e2eMs).toBeCloseTo(aDense.e2eMs, 9);
  });

  it('fits the attention over the prompt, and from a level-3 capture leaves out the decode steps between chunks', () => {
    const rng = new Rng(9);
    const events: TraceEventLine[] = [];
    const usable: SimRequest[] = [];
    const at = (ms: number): number => Math.round(ms * 1000);
    let t = 0;
    for (let i = 0; i < 60; i++) {
      const tokens = 50 + Math.floor(rng.next() * 1900);
      const start = t;
      for (let done = 0; done < tokens; done += 256) {
        const to = Math.min(tokens, done + 256);
        // The first chunk carries the run's fixed cost (whole(0) is that cost).
        const ms = whole(to) - whole(done) + (done === 0 ? whole(0) : 0);
        events.push({ name: 'chunked_prefill', ph: 'X', pid: 2, tid: 1, ts: at(t), dur: at(ms) });
        t += ms;
        // A decode step of other rows: 40 ms that belong to no prefill.
        if (to < tokens) t += 40;
      }
      events.push({ name: 'prefill_forward', ph: 'X', pid: 2, tid: 1, ts: at(start), dur: at(t - start), args: { rid: `p${i}` } });
      usable.push({ ...arriving(`p${i}`, start, tokens, 2), ttftMs: t - start, e2eMs: t - start + 5, stages: { prefill_forward: t - start, decode_loop: 5 } });
      t += 100;
    }
    const fitted = fitPrefill(usable, engineSteps(events));
    expect(fitted.perTokenSquared).toBeCloseTo(0.0001, 5);
    expect(fitted.perToken).toBeCloseTo(0.05, 2);
    expect(fitted.spread.high / fitted.spread.low).toBeLessThan(1.05);
    // From the stages alone the gaps stay in, and the fit is worse.
    const fromStages = fitPrefill(usable);
    expect(fromStages.spread.high / fromStages.spread.low).toBeGreaterThan(1.05);
  });
});

describe('the gqa layout in the simulator: rows prefilled one at a time', () => {
  const prefill = { intercept: 2, perToken: 0.05, perTokenSquared: 0.0001, spread: EXACT };
  const model: TimingModel = { ...TRUTH, prefill, decodeStep: { intercept: 3, perRequest: 0, perRowToken: 0, spread: EXACT }, beforeQueueMs: 0 };
  const own = (tokens: number): number => 0.05 * tokens + 0.0001 * tokens * tokens;

  it('costs each row its own tokens, a row at a time, the running rows decoding between them, all joining after the last', () => {
    // a decodes alone; b (400 tokens) and c (300) arrive together and fit the prefill budget: b's chunk, a step of a, c's chunk.
    const reqs = [arriving('a', 0, 50, 60), arriving('b', 10, 400, 2), arriving('c', 10, 300, 2)];
    const limits = { ...LIMITS, maxPrefillTokens: 1024, chunkedPrefill: true };
    const [, b, c] = simulate(reqs, { ...model, prefill: { ...prefill, rowByRow: true } }, limits);
    // One run: its fixed cost once, each row's own tokens, one decode step of a between the rows.
    expect(b.stages.prefill_forward).toBeCloseTo(2 + own(400) + own(300) + 3, 9);
    expect(c.ttftMs).toBeCloseTo(b.ttftMs!, 9);
    // Padded (the slot layout) the same two rows cost 2 × 400 columns in one chunk: more than row by row.
    const [, padded] = simulate(reqs, model, limits);
    expect(padded.stages.prefill_forward).toBeCloseTo(2 + 2 * own(400), 9);
  });

  it("fits a row-by-row capture on each row's own tokens, where the padded terms misfit it", () => {
    const rng = new Rng(5);
    const usable: SimRequest[] = [];
    let t = 0;
    for (let i = 0; i < 40; i++) {
      // Runs of one to three rows, each run costing its rows' own tokens.
      const rows = 1 + Math.floor(rng.next() * 3);
      const tokens = Array.from({ length: rows }, () => 50 + Math.floor(rng.next() * 1500));
      const ms = 2 + tokens.reduce((sum, n) => sum + own(n), 0);
      tokens.forEach((n, r) => usable.push({ ...arriving(`r${i}.${r}`, t, n, 2), ttftMs: ms, e2eMs: ms + 5, stages: { prefill_forward: ms, decode_loop: 5 } }));
      t += ms + 100;
    }
    const fitted = fitPrefill(usable, undefined, true);
    expect(fitted.rowByRow).toBe(true);
    expect(fitted.perToken).toBeCloseTo(0.05, 3);
    expect(fitted.perTokenSquared).toBeCloseTo(0.0001, 6);
    expect(fitted.spread.high / fitted.spread.low).toBeLessThan(1.01);
    const padded = fitPrefill(usable);
    expect(padded.rowByRow).toBeUndefined();
    expect(padded.spread.high / padded.spread.low).toBeGreaterThan(1.1);
  });
});

describe('variation in the simulator', () => {
  it('keeps the mean of the captured ratios at 1, and a queue whose costs vary waits longer than one whose costs are fixed', () => {
    const v = variation([0.5, 0.8, 1, 1.2, 2.5], 10);
    expect(v.reduce((a, b) => a + b, 0) / v.length).toBeCloseTo(1, 9);
    expect(variation([])).toEqual([1]);
    // A busy single queue: prefills of 40-240 tokens every 12 ms on average, each costing about 10 ms.
    const reqs = synthetic(300).map((r) => ({ ...r, ttftMs: null, e2eMs: 0, stages: {} }));
    const busy = { ...TRUTH, prefill: { ...TRUTH.prefill, perToken: 0.08 } };
    const fixed = simulate(reqs, busy, LIMITS);
    const varied = simulate(
      reqs,
      { ...busy, prefill: { ...busy.prefill, variation: [0.2, 1.8] }, decodeStep: { ...busy.decodeStep, variation: [0.2, 1.8] } },
      LIMITS,
    );
    const queued = (xs: typeof fixed): number => xs.reduce((a, x) => a + x.stages.queue_wait, 0);
    const prefilled = (xs: typeof fixed): number => xs.reduce((a, x) => a + x.stages.prefill_forward, 0);
    expect(queued(varied)).toBeGreaterThan(1.2 * queued(fixed));
    // The same work on average: the prefills' total within 15%.
    expect(Math.abs(prefilled(varied) / prefilled(fixed) - 1)).toBeLessThan(0.15);
  });

  it('brackets a simulation that draws its costs with bands at the ends of what it draws, not of the raw spread', () => {
    // Ratios scaled to a mean of 1 reach past the raw spread when it is skewed: here they span 0.3-1.7 against 0.9-1.1.
    const reqs = synthetic(120).map((r) => ({ ...r, ttftMs: null, e2eMs: 0, stages: {} }));
    const narrow = { low: 0.9, high: 1.1 };
    const model: TimingModel = {
      ...TRUTH,
      prefill: { ...TRUTH.prefill, spread: narrow, variation: [0.3, 1.7] },
      decodeStep: { ...TRUTH.decodeStep, spread: narrow, variation: [0.3, 1.7] },
    };
    expect(scaledModel(model, 'low').prefill.perToken).toBeCloseTo(0.3 * TRUTH.prefill.perToken, 12);
    expect(scaledModel(model, 'high').decodeStep.perRequest).toBeCloseTo(1.7 * TRUTH.decodeStep.perRequest, 12);
    const p50 = (xs: ReturnType<typeof simulate>, of: (x: (typeof xs)[number]) => number): number =>
      percentile(
        xs.map(of).sort((a, b) => a - b),
        50,
      );
    const drawn = simulate(reqs, model, LIMITS);
    const low = simulate(reqs, scaledModel(model, 'low'), LIMITS);
    const high = simulate(reqs, scaledModel(model, 'high'), LIMITS);
    for (const of of [
      (x: (typeof drawn)[number]) => x.stages.prefill_forward,
      (x: (typeof drawn)[number]) => x.stages.decode_loop,
      (x: (typeof drawn)[number]) => x.e2eMs,
    ]) {
      expect(p50(low, of)).toBeLessThanOrEqual(p50(drawn, of));
      expect(p50(high, of)).toBeGreaterThanOrEqual(p50(drawn, of));
    }
    // Without drawing, the band is the spread's.
    expect(scaledModel({ ...model, prefill: { ...model.prefill, variation: undefined } }, 'low').prefill.perToken).toBeCloseTo(
      0.9 * TRUTH.prefill.perToken,
      12,
    );
  });
});
