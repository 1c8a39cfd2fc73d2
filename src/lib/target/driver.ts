import { EventEmitter } from 'node:events';
import { Rng } from '../stats/rng.js';
import { arrivalOffsets } from '../workload/arrivals.js';
import type { RequestSpec, Workload } from '../workload/request_spec.js';
import type { BenchRun, DriverOptions, RequestOutcome } from './run_types.js';
import type { BenchTarget, Sent } from './targets.js';
import { runConversations } from './conversations.js';

export type { BenchRun, DriverOptions, RequestOutcome } from './run_types.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Requests in one warm-up round (fewer under a lower --max-concurrency). */
const WARMUP_SHAPES = 8;

/**
 * A warm-up copy of a request, under an id of its own and marked as a
 * warm-up to a server. Its prompt is reversed: the same length and tokens
 * warm the engine, but no prefix of the workload lands in a prefix cache
 * ahead of the run.
 */
function warmupCopy(spec: RequestSpec, id: string): RequestSpec {
  const prompt = spec.inputIds ? { inputIds: [...spec.inputIds].reverse() } : { prompt: [...(spec.prompt ?? '')].reverse().join('') };
  return { ...spec, ...prompt, id, warmup: true };
}

/** Up to `count` requests spread evenly over the workload's prompt lengths, shortest to longest. */
function spreadByLength(requests: readonly RequestSpec[], count: number): RequestSpec[] {
  const sorted = [...requests].sort((a, b) => a.inputTokens - b.inputTokens);
  const n = Math.min(count, sorted.length);
  const picked = new Set<RequestSpec>();
  for (let i = 0; i < n; i++) picked.add(sorted[n === 1 ? 0 : Math.round((i * (sorted.length - 1)) / (n - 1))]);
  return [...picked];
}

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
   * Sends copies of the first `warmup` requests one at a time (warmupCopy),
   * then, with `warmupMaxS`, warm-up rounds until TTFT settles; measures
   * nothing; resolves to how many requests it sent.
   */
  async warmup(target: BenchTarget, workload: Workload): Promise<number> {
    const copies = workload.requests.slice(0, this.options.warmup);
    for (const spec of copies) await this.one(target, warmupCopy(spec, `warmup-${spec.id}`), 0);
    const maxS = this.options.warmupMaxS ?? 0;
    return copies.length + (maxS > 0 ? await this.warmUntilSteady(target, workload, maxS * 1000) : 0);
  }

  /**
   * Warm-up rounds that cover the workload's shapes: each sends twice
   * WARMUP_SHAPES requests spread over the workload's prompt lengths, at
   * most WARMUP_SHAPES (or --max-concurrency) in flight, each sent as one
   * ends, so batches of every size from one to the cap form and shrink as
   * they do in the run (a server allocates per shape and batch size, so one
   * request at a time does not warm it). Rounds go on until a round's TTFT
   * median is within a tenth (or a millisecond) of the one before, a
   * request fails, or `maxMs` runs out. Resolves to the requests sent.
   */
  private async warmUntilSteady(target: BenchTarget, workload: Workload, maxMs: number): Promise<number> {
    const inFlight = Math.min(WARMUP_SHAPES, this.options.maxConcurrency);
    const shapes = spreadByLength(workload.requests, 2 * inFlight);
    const end = performance.now() + maxMs;
    let previous: number | null = null;
    let sent = 0;
    for (let round = 0; shapes.length && performance.now() < end; round++) {
      const outcomes: RequestOutcome[] = [];
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < shapes.length) {
          const spec = shapes[next++];
          outcomes.push(await this.one(target, warmupCopy(spec, `warmup-r${round}-${spec.id}`), 0));
        }
      };
      await Promise.all(Array.from({ length: Math.min(inFlight, shapes.length) }, lane));
      sent += outcomes.length;
      const ttfts = outcomes.flatMap((o) => (o.error === null && o.ttftMs !== null ? [o.ttftMs] : [])).sort((x, y) => x - y);
      if (ttfts.length < outcomes.length) break;
      const median = ttfts[Math.floor(ttfts.length / 2)];
      if (previous !== null && Math.abs(median - previous) <= Math.max(0.1 * previous, 1)) break;
      previous = median;
    }
    return sent;
  }

  async run(target: BenchTarget, workload: Workload): Promise<BenchRun> {
    if (workload.conversations)
      return runConversations(this, target, workload.conversations, this.options, (done, total) => this.emit('progress', done, total));
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
    const burst = maxConcurrency >= specs.length && arrivals.every((a) => a === 0);
    return { outcomes, durationMs, peakConcurrency: peak, meanConcurrency: durationMs > 0 ? area / durationMs : 0, burst };
  }

  private arrivals(specs: readonly RequestSpec[]): number[] {
    if (this.options.replayArrivals && specs.every((s) => s.arrivalMs !== undefined)) return specs.map((s) => s.arrivalMs!);
    return arrivalOffsets(new Rng(this.options.seed), specs.length, this.options.requestRate, this.options.burstiness);
  }

  /**
   * One request, timed as bench_serving times it: TTFT to the first chunk
   * with content, one ITL per later chunk with content, E2E to the end of the
   * stream. The chunk callback is the per-response hot path: a compare and a push.
   * `onSent` sees what the target answered (a conversation's runner takes the output from it).
   */
  async one(target: BenchTarget, spec: RequestSpec, sentAtMs: number, onSent?: (sent: Sent) => void): Promise<RequestOutcome> {
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
      onSent?.(sent);
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
