import { Scheduler } from '../engine/policy/scheduler.js';
import { SglError } from '../errors.js';
import type { TimingSample } from './fidelity.js';
import type { SimRequest, TimingModel } from './timing_model.js';

export type { SimRequest, TimingModel } from './timing_model.js';
export { MIN_FIT_REQUESTS, fitTimingModel, scaledModel } from './timing_model.js';

export interface SimLimits {
  maxRunningRequests: number;
  maxPrefillTokens: number;
  /** The KV budget in tokens (the engine's maxTotalTokens); none when unknown. */
  maxTotalTokens?: number;
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
 * the KV reservation), a prefill run whenever requests
 * are admitted (and a repack merging them into the running batch),
 * otherwise one decode step for every running request (and a repack when
 * some finish). The batch is dense: its padded length is its longest row's.
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
  let running: (Waiting & { left: number; len: number; firstAt: number; queueMs: number; prefillMs: number })[] = [];
  const { decodeStep: step, repack } = model;
  const repackMs = (rows: number, length: number): number => repack.intercept + repack.perRowToken * rows * length;
  let next = 0;
  let t = 0;
  while (out.size < order.length) {
    for (; next < order.length && arrivals[next] <= t; next++) {
      const r = order[next];
      scheduler.enqueue({ i: next, rid: r.id, promptLength: r.inputTokens, maxTokens: r.outputTokens });
    }
    const admitted = scheduler.admit(running);
    let widest = 0;
    for (const w of admitted) widest = Math.max(widest, w.promptLength);
    let changed = false;
    if (admitted.length) {
      const dt = model.prefill.intercept + model.prefill.perToken * admitted.length * widest;
      const start = t;
      t += dt;
      changed = running.length > 0;
      for (const w of admitted) running.push({ ...w, left: w.maxTokens - 1, len: w.promptLength, firstAt: t, queueMs: start - arrivals[w.i], prefillMs: dt });
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
    } else if (next < order.length) {
      t = arrivals[next];
      continue;
    } else {
      throw new SglError(
        `The simulation cannot admit ${scheduler.waiting} request(s): each needs more KV tokens than the budget of ${limits.maxTotalTokens} (prompt plus output). Raise --kv-cache-mb or shorten the workload (--fit-context).`,
      );
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
