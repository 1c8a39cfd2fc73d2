import { EventEmitter } from 'node:events';
import { Rng } from '../stats/rng.js';
import { arrivalOffsets } from '../workload/arrivals.js';
import type { RequestSpec, Workload } from '../workload/request_spec.js';
import type { BenchTarget } from './targets.js';

export interface DriverOptions {
  /** Requests per second; Infinity sends all at once. Ignored when the workload fixes arrivals and `replayArrivals` is set. */
  requestRate: number;
  burstiness: number;
  maxConcurrency: number;
  seed: number;
  warmup: number;
  /** Use the workload's own arrival times (traces, Mooncake) instead of drawing them. */
  replayArrivals: boolean;
}

/** What the client saw of one request. */
export interface RequestOutcome {
  id: string;
  inputTokens: number;
  outputTokens: number;
  /** ms from sending to the first token; null when none came. */
  ttftMs: number | null;
  e2eMs: number;
  /** Gaps between streamed chunks with content after the first, ms (one per chunk, however many tokens it carries). */
  itlMs: number[];
  /** ms from the start of the run to sending. */
  sentAtMs: number;
  error: string | null;
  /** Prompt tokens the target's prefix cache supplied, when it said. */
  cachedTokens: number | null;
  /** The server's own TTFT, when it said (sgl serve's include_timing): client TTFT less this is transport. */
  serverTtftMs: number | null;
  /** The server that answered (or failed it), when the target is a fleet. */
  target?: string;
}

export interface BenchRun {
  outcomes: RequestOutcome[];
  durationMs: number;
  peakConcurrency: number;
  /** Time-weighted mean of requests in flight. */
  meanConcurrency: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits until performance.now() reaches `at`. Node fires a timer of more
 * than 2^31-1 ms at once, so long waits are taken in steps; and it fires a
 * timer up to a millisecond early (it counts from the event loop's cached
 * clock), so what is left after it is waited out in event-loop turns, which
 * costs a fraction of a millisecond of CPU per request and keeps arrivals on
 * time to a tenth of one.
 */
async function until(at: number): Promise<void> {
  for (let wait = at - performance.now(); wait > 0; wait = at - performance.now()) {
    if (wait > 1) await new Promise((r) => setTimeout(r, Math.min(wait, MAX_TIMER_MS)));
    else await new Promise((r) => setImmediate(r));
  }
}

/**
 * Sends a workload to a target with the arrival process and concurrency cap
 * asked for, timing each response from the client side. It never prints;
 * it emits 'progress' (done, total) for whoever draws a bar.
 */
export class BenchDriver extends EventEmitter {
  constructor(private readonly options: DriverOptions) {
    super();
  }

  /**
   * Sends copies of the first `warmup` requests one at a time, under ids of
   * their own (`warmup-…`, marked as warm-ups to a server), and measures
   * nothing; resolves to how many it sent. A copy has its prompt reversed:
   * the same length and tokens warm the engine, but no prefix of the
   * workload lands in a prefix cache ahead of the run.
   */
  async warmup(target: BenchTarget, workload: Workload): Promise<number> {
    const copies = workload.requests.slice(0, this.options.warmup);
    for (const spec of copies) {
      const prompt = spec.inputIds ? { inputIds: [...spec.inputIds].reverse() } : { prompt: [...(spec.prompt ?? '')].reverse().join('') };
      await this.one(target, { ...spec, ...prompt, id: `warmup-${spec.id}`, warmup: true }, 0);
    }
    return copies.length;
  }

  async run(target: BenchTarget, workload: Workload): Promise<BenchRun> {
    const { maxConcurrency } = this.options;
    const specs = workload.requests;
    const arrivals = this.arrivals(specs);
    const outcomes: RequestOutcome[] = new Array(specs.length);
    let inFlight = 0;
    let peak = 0;
    let area = 0;
    let last = 0;
    let done = 0;
    const waiters: (() => void)[] = [];
    const start = performance.now();
    const account = (): void => {
      const t = performance.now() - start;
      area += inFlight * (t - last);
      last = t;
    };
    await Promise.all(
      specs.map(async (spec, i) => {
        await until(start + arrivals[i]);
        while (inFlight >= maxConcurrency) await new Promise<void>((r) => waiters.push(r));
        account();
        inFlight++;
        peak = Math.max(peak, inFlight);
        outcomes[i] = await this.one(target, spec, performance.now() - start);
        account();
        inFlight--;
        waiters.shift()?.();
        this.emit('progress', ++done, specs.length);
      }),
    );
    const durationMs = performance.now() - start;
    return { outcomes, durationMs, peakConcurrency: peak, meanConcurrency: durationMs > 0 ? area / durationMs : 0 };
  }

  private arrivals(specs: readonly RequestSpec[]): number[] {
    if (this.options.replayArrivals && specs.every((s) => s.arrivalMs !== undefined)) return specs.map((s) => s.arrivalMs!);
    return arrivalOffsets(new Rng(this.options.seed), specs.length, this.options.requestRate, this.options.burstiness);
  }

  /**
   * One request, timed as bench_serving times it: TTFT to the first chunk
   * with content, one ITL per later chunk with content, E2E to the end of the
   * stream. The chunk callback is the per-response hot path: a compare and a push.
   */
  private async one(target: BenchTarget, spec: RequestSpec, sentAtMs: number): Promise<RequestOutcome> {
    const itlMs: number[] = [];
    const t0 = performance.now();
    let first = -1;
    let prev = 0;
    const onChunk = (t: number): void => {
      if (first < 0) first = t;
      else itlMs.push(t - prev);
      prev = t;
    };
    let outputTokens = 0;
    let inputTokens = spec.inputTokens;
    let cachedTokens: number | null = null;
    let serverTtftMs: number | null = null;
    let error: string | null = null;
    let served: string | undefined;
    try {
      const sent = await target.send(spec, onChunk);
      outputTokens = sent.outputTokens;
      inputTokens = sent.inputTokens ?? inputTokens;
      cachedTokens = sent.cachedTokens ?? null;
      serverTtftMs = sent.serverTtftMs ?? null;
      served = sent.target;
    } catch (err) {
      error = (err as Error).message;
      served = (err as { target?: string }).target;
    }
    return {
      id: spec.id,
      inputTokens,
      outputTokens,
      ttftMs: first < 0 ? null : first - t0,
      e2eMs: performance.now() - t0,
      itlMs,
      sentAtMs,
      error,
      cachedTokens,
      serverTtftMs,
      ...(served === undefined ? {} : { target: served }),
    };
  }
}
