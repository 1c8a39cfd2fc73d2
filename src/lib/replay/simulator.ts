import { percentile } from '../stats/distribution.js';
import { SglError } from '../errors.js';
import type { RequestTiming } from './fidelity.js';
import { decodePeriods, repackSamples, stepTimes } from './engine_steps.js';
import type { EngineSteps, PeriodSample } from './engine_steps.js';

/** What the simulator knows of a captured request. */
export interface SimRequest {
  id: string;
  arrivalMs: number;
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens the capture's prefix cache supplied: its prefill ran only the rest. */
  cachedTokens?: number;
  ttftMs: number | null;
  e2eMs: number;
  stages: Record<string, number>;
}

/** How far the captured times fall from a fitted line: the 2.5th and 97.5th percentiles of measured ÷ fitted. */
export interface FitSpread {
  low: number;
  high: number;
}

/**
 * Timing models fitted to a capture: a prefill run against its padded
 * tokens; a decode step against its rows and the cache they attend over;
 * a KV repack against the cache it copies.
 */
export interface TimingModel {
  prefill: { intercept: number; perToken: number; spread: FitSpread };
  /** A decode step's period: intercept + perRequest × rows + perRowToken × rows × (padded past + 1). */
  decodeStep: { intercept: number; perRequest: number; perRowToken: number; spread: FitSpread };
  /** A repack when rows join or leave: intercept + perRowToken × rows × padded length. Zero when fitted per request (folded into the decode step). */
  repack: { intercept: number; perRowToken: number };
  /**
   * What the decode model was fitted on: `steps`, each decode step and repack of a level-3
   * capture; `requests`, each request's decode loop against its average batch (levels 1-2),
   * which cannot see the cache length.
   */
  basis: 'steps' | 'requests';
  /** Decode steps the step models were fitted on (0 for `requests`). */
  fittedSteps: number;
  /** The largest decode step the fit saw: rows, and rows × cached tokens (0 when fitted per request, which cannot tell). */
  covered: { rows: number; rowTokens: number };
  /** Requests the models were fitted on. */
  fittedOn: number;
  /** Time before the scheduler sees a request, and after its last token (tokenize, hops, detokenize). */
  beforeQueueMs: number;
  afterDecodeMs: number;
}

export interface SimLimits {
  maxRunningRequests: number;
  maxPrefillTokens: number;
  /** The KV budget in tokens (the engine's maxTotalTokens); none when unknown. */
  maxTotalTokens?: number;
}

/**
 * Theil–Sen: the median of pairwise slopes and the median intercept. Robust
 * to the outliers captures are full of (first runs of a new shape, GC
 * pauses), which would otherwise set the line for everyone.
 */
function fitLine(xs: number[], ys: number[]): { intercept: number; slope: number } {
  const step = Math.max(1, Math.floor(xs.length / 300));
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i += step) {
    for (let j = i + step; j < xs.length; j += step) if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
  }
  const slope = slopes.length ? Math.max(0, percentile(slopes.sort((a, b) => a - b), 50)) : 0;
  const intercept = percentile(ys.map((y, i) => y - slope * xs[i]).sort((a, b) => a - b), 50);
  return { intercept: Math.max(0, intercept), slope };
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

/** Fewer requests than this and the fit is rough; the simulator says so. */
export const MIN_FIT_REQUESTS = 50;

/** The residual spread of a fitted line, as ratios of measured to fitted. */
function spreadOf(xs: readonly number[], ys: readonly number[], line: { intercept: number; slope: number }): FitSpread {
  const ratios = xs.flatMap((x, i) => {
    const fitted = line.intercept + line.slope * x;
    return fitted > 0 ? [ys[i] / fitted] : [];
  }).sort((a, b) => a - b);
  return ratios.length ? { low: percentile(ratios, 2.5), high: percentile(ratios, 97.5) } : { low: 1, high: 1 };
}

/** The same models with every prefill run and decode step scaled to one end of its fit's residual spread. */
export function scaledModel(model: TimingModel, end: 'low' | 'high'): TimingModel {
  const p = model.prefill.spread[end];
  const d = model.decodeStep.spread[end];
  return {
    ...model,
    prefill: { ...model.prefill, intercept: model.prefill.intercept * p, perToken: model.prefill.perToken * p },
    decodeStep: { ...model.decodeStep, intercept: model.decodeStep.intercept * d, perRequest: model.decodeStep.perRequest * d, perRowToken: model.decodeStep.perRowToken * d },
  };
}

/** The fewest decode periods a step-level fit is made on; below it the per-request fit is used. */
const MIN_FIT_STEPS = 50;

/**
 * Fits the models; needs a capture with stage timings (an sgl trace at level 1
 * or more). Given the engine's steps of a level-3 capture (engine_steps.ts),
 * decode steps and repacks are fitted step by step, against the cache length
 * too; otherwise each request's decode loop is fitted against its average batch.
 */
export function fitTimingModel(reqs: readonly SimRequest[], steps?: EngineSteps): TimingModel {
  const usable = reqs.filter((r) => r.stages.prefill_forward !== undefined && r.stages.decode_loop !== undefined && r.ttftMs !== null);
  if (usable.length < 2) throw new SglError('--simulate needs an sgl trace with stage timings (captured at trace level 1 or more) of at least two requests; public workload traces carry none.');
  const scheduled = (r: SimRequest): number => (r.stages.queue_wait ?? 0) + (r.stages.prefill_prepare ?? 0) + r.stages.prefill_forward;
  const periods = steps ? decodePeriods(steps) : [];
  const byStep = periods.length >= MIN_FIT_STEPS;
  return {
    prefill: fitPrefill(usable),
    ...(byStep ? fitSteps(periods, steps!) : fitDecodeLoops(usable)),
    fittedOn: usable.length,
    beforeQueueMs: Math.max(0, median(usable.map((r) => r.ttftMs! - scheduled(r)))),
    afterDecodeMs: Math.max(0, median(usable.map((r) => r.e2eMs - r.ttftMs! - r.stages.decode_loop))),
  };
}

/** Prefill runs: one point per run, against its padded tokens. */
function fitPrefill(usable: readonly SimRequest[]): TimingModel['prefill'] {
  // One point per prefill run, whose batch is padded: rows × the longest prompt in it. Requests prefilled
  // together carry the same prefill_forward to the nanosecond and reach their first token close together
  // (a capture marks the first token at delivery, so not at the same instant).
  const byRun = usable
    .map((r) => ({ ms: r.stages.prefill_forward, end: r.arrivalMs + r.ttftMs!, input: r.inputTokens - (r.cachedTokens ?? 0), prepare: r.stages.prefill_prepare ?? 0 }))
    .sort((a, b) => a.ms - b.ms || a.end - b.end);
  const runs: { rows: number; widest: number; ms: number; end: number }[] = [];
  for (const r of byRun) {
    const last = runs[runs.length - 1];
    if (last && Math.abs(last.ms - r.ms) < 1e-6 && r.end - last.end < Math.max(5, r.ms / 2)) {
      last.rows++;
      last.widest = Math.max(last.widest, r.input);
    } else runs.push({ rows: 1, widest: r.input, ms: r.ms + r.prepare, end: r.end });
  }
  const prefillXs = runs.map((b) => b.rows * b.widest);
  const prefillYs = runs.map((b) => b.ms);
  // The line through the typical run. Scaling it to the runs' total (as the step models are) was tried:
  // it fitted the profile itself better and predicted other workloads worse (bench/simulator_check.ts).
  const prefill = fitLine(prefillXs, prefillYs);
  return { intercept: prefill.intercept, perToken: prefill.slope, spread: spreadOf(prefillXs, prefillYs, prefill) };
}

type DecodeModels = Pick<TimingModel, 'decodeStep' | 'repack' | 'basis' | 'fittedSteps' | 'covered'>;

/** Levels 1-2: each request's decode loop against the batch it decoded in on average; repacks fold into the step. */
function fitDecodeLoops(usable: readonly SimRequest[]): DecodeModels {
  // Each request's decode steps, against how many requests were decoding alongside it on average.
  // Prefill runs of other requests block decoding; their time is taken out first (as a union,
  // since requests prefilled together share one run), or the simulator would count it twice.
  const spans = usable.map((r) => ({ from: r.arrivalMs + r.ttftMs!, to: r.arrivalMs + r.e2eMs }));
  const prefills = [...new Map(usable.map((r) => {
    const end = r.arrivalMs + r.ttftMs!;
    const start = end - r.stages.prefill_forward;
    return [`${start.toFixed(6)}`, { start, end }];
  })).values()].sort((a, b) => a.start - b.start);
  // How many requests were decoding, piece by piece: the sweep of every request's decode span.
  // Prefill runs are left out: no decode step runs while one does.
  const edges = [
    ...spans.flatMap((sp) => [[sp.from, 1, 0], [sp.to, -1, 0]] as [number, number, number][]),
    ...prefills.flatMap((p) => [[p.start, 0, 1], [p.end, 0, -1]] as [number, number, number][]),
  ].sort((a, b) => a[0] - b[0]);
  const segments: { from: number; to: number; n: number }[] = [];
  let n = 0;
  let inPrefill = 0;
  for (let k = 0; k < edges.length; k++) {
    n += edges[k][1];
    inPrefill += edges[k][2];
    const next = edges[k + 1];
    if (next && next[0] > edges[k][0] && n > 0 && inPrefill <= 0) segments.push({ from: edges[k][0], to: next[0], n });
  }
  const ys: number[] = [];
  const decoding: { from: number; to: number }[] = [];
  usable.forEach((r, i) => {
    if (r.outputTokens < 2) return;
    const { from, to } = spans[i];
    let blocked = 0;
    let covered = from;
    for (const p of prefills) {
      const a = Math.max(covered, p.start, from);
      const b = Math.min(p.end, to);
      if (b > a) blocked += b - a;
      covered = Math.max(covered, Math.min(p.end, to));
    }
    decoding.push({ from, to });
    ys.push(Math.max(0, r.stages.decode_loop - blocked) / (r.outputTokens - 1));
  });
  // Each request's batch size, averaged over its decode steps rather than its time: a piece at n
  // requests holds length / step(n) steps. The step time comes from the fit, so fit a few times.
  let decode = { intercept: 1, slope: 0 };
  let xs: number[] = [];
  for (let round = 0; round < 4 && ys.length; round++) {
    const step = (k: number): number => Math.max(1e-6, decode.intercept + decode.slope * k);
    xs = decoding.map(({ from, to }) => {
      let steps = 0;
      let weighted = 0;
      for (const sg of segments) {
        const len = Math.min(to, sg.to) - Math.max(from, sg.from);
        if (len <= 0) continue;
        steps += len / step(sg.n);
        weighted += (sg.n * len) / step(sg.n);
      }
      return steps > 0 ? weighted / steps : 1;
    });
    decode = fitLine(xs, ys);
  }
  if (!ys.length) decode = { intercept: 0, slope: 0 };
  return {
    decodeStep: { intercept: decode.intercept, perRequest: decode.slope, perRowToken: 0, spread: spreadOf(xs, ys, decode) },
    repack: { intercept: 0, perRowToken: 0 },
    basis: 'requests',
    fittedSteps: 0,
    covered: { rows: Math.ceil(xs.reduce((m, x) => Math.max(m, x), 0)), rowTokens: 0 },
  };
}

/**
 * Level 3: each decode period against rows and rows × cache length (least
 * squares on the per-row cost, terms that come out negative dropped,
 * outliers beyond four robust deviations trimmed once); each repack against
 * the cache it copies. Both are then scaled so that they add up to the time
 * the capture's steps and repacks took: a line through the typical step
 * misses the slow ones, and queueing follows the total.
 */
function fitSteps(periods: readonly PeriodSample[], steps: EngineSteps): DecodeModels {
  const fit = (pts: readonly PeriodSample[]): [number, number, number] => {
    for (const terms of [[true, true], [false, true], [true, false], [false, false]] as const) {
      const cols = (p: PeriodSample): number[] => [1, ...(terms[0] ? [p.rows] : []), ...(terms[1] ? [p.rowTokens] : [])];
      const beta = leastSquares(pts.map(cols), pts.map((p) => p.ms), pts.map((p) => 1 / (p.rows * p.rows)));
      if (!beta || beta.some((b) => b < 0)) continue;
      return [beta[0], terms[0] ? beta[1] : 0, terms[1] ? beta[beta.length - 1] : 0];
    }
    return [median(pts.map((p) => p.ms)), 0, 0];
  };
  const at = (b: readonly number[], p: PeriodSample): number => b[0] + b[1] * p.rows + b[2] * p.rowTokens;
  let beta = fit(periods);
  const residuals = periods.map((p) => p.ms - at(beta, p));
  const mad = median(residuals.map(Math.abs)) * 1.4826;
  const kept = periods.filter((_, i) => Math.abs(residuals[i]) <= 4 * mad);
  if (kept.length >= MIN_FIT_STEPS) beta = fit(kept);
  const all = stepTimes(steps);
  const scale = total(all, (p) => p.ms) / total(all, (p) => at(beta, p));
  if (Number.isFinite(scale) && scale > 0) beta = beta.map((b) => b * scale) as [number, number, number];
  const ratios = periods.map((p) => p.ms / at(beta, p)).sort((a, b) => a - b);
  const repacks = repackSamples(steps);
  let repack = repacks.length >= 2 ? fitLine(repacks.map((r) => r.rowTokens), repacks.map((r) => r.ms)) : { intercept: 0, slope: 0 };
  const repackScale = total(repacks, (r) => r.ms) / total(repacks, (r) => repack.intercept + repack.slope * r.rowTokens);
  if (Number.isFinite(repackScale) && repackScale > 0) repack = { intercept: repack.intercept * repackScale, slope: repack.slope * repackScale };
  return {
    decodeStep: { intercept: beta[0], perRequest: beta[1], perRowToken: beta[2], spread: { low: percentile(ratios, 2.5), high: percentile(ratios, 97.5) } },
    repack: { intercept: repack.intercept, perRowToken: repack.slope },
    basis: 'steps',
    fittedSteps: periods.length,
    // Reduced, not spread: a long profile has more steps than a call takes arguments.
    covered: all.reduce((c, p) => ({ rows: Math.max(c.rows, p.rows), rowTokens: Math.max(c.rowTokens, p.rowTokens) }), { rows: 0, rowTokens: 0 }),
  };
}

function total<T>(xs: readonly T[], f: (x: T) => number): number {
  let sum = 0;
  for (const x of xs) sum += f(x);
  return sum;
}

/** Weighted least squares by the normal equations; null when they are singular. */
function leastSquares(rows: readonly number[][], ys: readonly number[], weights: readonly number[]): number[] | null {
  const k = rows[0]?.length ?? 0;
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  rows.forEach((x, i) => {
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) a[r][c] += weights[i] * x[r] * x[c];
      a[r][k] += weights[i] * x[r] * ys[i];
    }
  });
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    if (Math.abs(a[pivot][c]) < 1e-12) return null;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j <= k; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row, i) => row[k] / row[i]);
}

/** KV tokens a request may come to hold, as the engine reserves them. */
const reservation = (r: SimRequest): number => r.inputTokens + r.outputTokens;

/**
 * A discrete-event simulation of the engine's scheduler loop: FIFO admission
 * up to the running cap and prefill budget, a prefill run whenever requests
 * are admitted (and a repack merging them into the running batch),
 * otherwise one decode step for every running request (and a repack when
 * some finish). The batch is dense: its padded length is its longest row's.
 */
export function simulate(reqs: readonly SimRequest[], model: TimingModel, limits: SimLimits, speed = 1, reach?: { rows: number; rowTokens: number }): RequestTiming[] {
  const order = [...reqs].sort((a, b) => a.arrivalMs - b.arrivalMs);
  const arrivals = order.map((r) => r.arrivalMs / speed + model.beforeQueueMs);
  const out = new Map<number, RequestTiming>();
  const waiting: number[] = [];
  /** Running rows: output tokens left, cache tokens held, when the first token came. */
  let running: { i: number; left: number; len: number; firstAt: number; queueMs: number; prefillMs: number }[] = [];
  const { decodeStep: step, repack } = model;
  const repackMs = (rows: number, length: number): number => repack.intercept + repack.perRowToken * rows * length;
  let next = 0;
  let t = 0;
  while (out.size < order.length) {
    while (next < order.length && arrivals[next] <= t) waiting.push(next++);
    // Admission as the engine's scheduler does it: FIFO, a running cap, a KV budget for a dense batch
    // (rows × the longest reservation), and a prefill budget for a padded batch (rows × the widest prompt).
    const admitted: number[] = [];
    let longest = 0;
    for (const r of running) longest = Math.max(longest, reservation(order[r.i]));
    let widest = 0;
    while (waiting.length) {
      const cand = order[waiting[0]];
      const rows = running.length + admitted.length + 1;
      const nextLongest = Math.max(longest, reservation(cand));
      const nextWidest = Math.max(widest, cand.inputTokens);
      if (rows > limits.maxRunningRequests || rows * nextLongest > (limits.maxTotalTokens ?? Infinity)) break;
      if (admitted.length && (admitted.length + 1) * nextWidest > limits.maxPrefillTokens) break;
      admitted.push(waiting.shift()!);
      longest = nextLongest;
      widest = nextWidest;
    }
    let changed = false;
    if (admitted.length) {
      const dt = model.prefill.intercept + model.prefill.perToken * admitted.length * widest;
      const start = t;
      t += dt;
      changed = running.length > 0;
      for (const i of admitted) running.push({ i, left: order[i].outputTokens - 1, len: order[i].inputTokens, firstAt: t, queueMs: start - arrivals[i], prefillMs: dt });
    } else if (running.length) {
      let past = 0;
      for (const r of running) past = Math.max(past, r.len);
      if (reach) {
        reach.rows = Math.max(reach.rows, running.length);
        reach.rowTokens = Math.max(reach.rowTokens, running.length * (past + 1));
      }
      t += step.intercept + step.perRequest * running.length + step.perRowToken * running.length * (past + 1);
      for (const r of running) {
        r.left--;
        r.len++;
      }
    } else {
      t = arrivals[next];
      continue;
    }
    const before = running.length;
    running = running.filter((r) => {
      if (r.left > 0) return true;
      const arrived = order[r.i].arrivalMs / speed;
      const decodeMs = t - r.firstAt;
      out.set(r.i, {
        id: order[r.i].id,
        ttftMs: r.firstAt - arrived,
        tpotMs: order[r.i].outputTokens > 1 ? (decodeMs + model.afterDecodeMs) / (order[r.i].outputTokens - 1) : null,
        e2eMs: t + model.afterDecodeMs - arrived,
        stages: { queue_wait: r.queueMs, prefill_forward: r.prefillMs, decode_loop: decodeMs },
      });
      return false;
    });
    // Rows joined or left: the rows that stay are copied into a batch as long as the longest of them.
    if ((changed || running.length < before) && running.length) {
      let length = 0;
      for (const r of running) length = Math.max(length, r.len);
      t += repackMs(running.length, length);
    }
  }
  return order.map((_, i) => out.get(i)!);
}
