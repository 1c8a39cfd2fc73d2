import { Scheduler } from '../engine/policy/scheduler.js';
import { SglError } from '../errors.js';
import { Rng } from '../stats/rng.js';
import type { TimingSample } from './fidelity.js';
import { fittedStep } from './timing_model.js';
import type { SimRequest, TimingModel } from './timing_model.js';

export type { SimRequest, TimingModel } from './timing_model.js';
export { MIN_FIT_REQUESTS, fitTimingModel, scaleCosts, scaledModel, simRequest } from './timing_model.js';

export interface SimLimits {
  maxRunningRequests: number;
  maxPrefillTokens: number;
  /** The KV budget in tokens (the engine's maxTotalTokens); none when unknown. */
  maxTotalTokens?: number;
  /**
   * The slot layouts' prefill (slots, gqa): a run goes a chunk of at most maxPrefillTokens at a time,
   * with a decode step of the running rows after every chunk but the last. The dense layout runs it whole.
   * A model whose prefill is fitted row by row (gqa) runs the rows one after another, each in its own chunks.
   */
  chunkedPrefill?: boolean;
}

/** A request waiting in, or admitted by, the simulated scheduler: what admission reads, and its place in arrival order. */
interface Waiting {
  i: number;
  rid: string;
  promptLength: number;
  maxTokens: number;
}

/**
 * A discrete-event simulation of the engine's scheduler loop: admission by
 * the engine's own Scheduler (FIFO, the running cap, the prefill budget and
 * the KV reservation), a prefill run whenever requests are admitted (on
 * the slot layouts a chunk at a time, the running rows decoding a step
 * after each chunk but the last; its rows join the batch with a repack),
 * otherwise one decode step for every running request (and a repack when
 * some finish). A step's cost follows the batch's padded length: its
 * longest row's.
 */
export function simulate(
  reqs: readonly SimRequest[],
  model: TimingModel,
  limits: SimLimits,
  speed = 1,
  reach?: { rows: number; rowTokens: number },
): TimingSample[] {
  const order = [...reqs].sort((a, b) => a.arrivalMs - b.arrivalMs);
  const arrivals = order.map((r) => r.arrivalMs / speed + model.beforeQueueMs);
  const out = new Map<number, TimingSample>();
  const scheduler = new Scheduler<Waiting>({ ...limits, maxTotalTokens: limits.maxTotalTokens ?? Infinity });
  /** Running rows: output tokens left, cache tokens held, when the first token came. */
  let next = 0;
  let t = 0;
  type Row = Waiting & { left: number; len: number; firstAt: number; queueMs: number; prefillMs: number };
  let running: Row[] = [];
  /**
   * The prefill between its chunks: its rows, the row being prefilled (row by row) and its width (otherwise
   * the padded width of all of them), columns done, columns per chunk, when it started.
   */
  let pending: { rows: Waiting[]; row: number; widest: number; done: number; perChunk: number; start: number; draw: number } | null = null;
  const { decodeStep: step, repack, prefill } = model;
  // Each prefill run and decode step costs its fit times a draw from its variation (seeded: one model, one answer).
  const rng = new Rng(1);
  const draw = (v: readonly number[] | undefined): number => (v && v.length ? v[Math.floor(rng.next() * v.length)] : 1);
  const repackMs = (rows: number, length: number): number => repack.intercept + repack.perRowToken * rows * length;
  /** A prefill run's cost up to `columns` of its padded width (a chunk costs the difference: attention grows with the columns before it). */
  const prefillUpTo = (rows: number, columns: number): number => rows * columns * (prefill.perToken + prefill.perTokenSquared * columns);
  const repackRunning = (): void => {
    let length = 0;
    for (const r of running) length = Math.max(length, r.len);
    t += repackMs(running.length, length);
  };
  /** Rows with no tokens left end; says whether any did. */
  const finish = (): boolean => {
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
    return running.length < before;
  };
  const decode = (): void => {
    let past = 0;
    for (const r of running) past = Math.max(past, r.len);
    if (reach) {
      reach.rows = Math.max(reach.rows, running.length);
      reach.rowTokens = Math.max(reach.rowTokens, running.length * (past + 1));
    }
    t += fittedStep(model, running.length, running.length * (past + 1)) * draw(step.variation);
    for (const r of running) {
      r.left--;
      r.len++;
    }
    // Rows left: the rows that stay are moved into a batch as long as the longest of them.
    if (finish() && running.length) repackRunning();
  };
  /** The pending prefill's next chunk; after its last (row by row, its last row's), its rows join the running batch. */
  const chunk = (): void => {
    const p = pending!;
    const to = Math.min(p.widest, p.done + p.perChunk);
    const rows = prefill.rowByRow ? 1 : p.rows.length;
    t += ((p.done === 0 && p.row === 0 ? prefill.intercept : 0) + prefillUpTo(rows, to) - prefillUpTo(rows, p.done)) * p.draw;
    p.done = to;
    if (to < p.widest) return;
    if (prefill.rowByRow && p.row + 1 < p.rows.length) {
      p.row++;
      p.widest = p.rows[p.row].promptLength;
      p.done = 0;
      return;
    }
    pending = null;
    const joins = running.length > 0;
    for (const w of p.rows)
      running.push({ ...w, left: w.maxTokens - 1, len: w.promptLength, firstAt: t, queueMs: p.start - arrivals[w.i], prefillMs: t - p.start });
    if ((finish() || joins) && running.length) repackRunning();
  };
  while (out.size < order.length) {
    for (; next < order.length && arrivals[next] <= t; next++) {
      const r = order[next];
      scheduler.enqueue({ i: next, rid: r.id, promptLength: r.inputTokens, maxTokens: r.outputTokens });
    }
    if (pending) chunk();
    else {
      const admitted = scheduler.admit(running);
      if (admitted.length) {
        let widest = 0;
        for (const w of admitted) widest = Math.max(widest, w.promptLength);
        let perChunk = limits.chunkedPrefill ? Math.max(1, Math.floor(limits.maxPrefillTokens / admitted.length)) : widest;
        if (prefill.rowByRow) {
          // The gqa layout: the rows one at a time, each a chunk of at most maxPrefillTokens at a time, all joining after the last.
          widest = admitted[0].promptLength;
          perChunk = limits.maxPrefillTokens;
        }
        pending = { rows: admitted, row: 0, widest, done: 0, perChunk, start: t, draw: draw(prefill.variation) };
        chunk();
      } else if (running.length) decode();
      else if (next < order.length) {
        t = arrivals[next];
        continue;
      } else {
        throw new SglError(
          `The simulation cannot admit ${scheduler.waiting} request(s): each needs more KV tokens than the budget of ${limits.maxTotalTokens} (prompt plus output). Raise --kv-cache-mb or shorten the workload (--fit-context).`,
        );
      }
    }
    if (pending && running.length) decode();
  }
  return order.map((_, i) => out.get(i)!);
}
