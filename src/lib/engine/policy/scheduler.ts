import type { EngineLimits } from '../../protocol.js';

/** What the scheduler needs to know of a request to admit it. */
export interface Schedulable {
  rid: string;
  promptLength: number;
  maxTokens: number;
}

/** Cache tokens a request may come to hold: its prompt and every token it may generate. */
export function reservation(r: Schedulable): number {
  return r.promptLength + r.maxTokens;
}

/**
 * The admission policy: a FIFO waiting queue, a cap on running requests, a
 * prefill token budget per run, and a KV budget. The running batch is dense
 * (rows × longest row), so a request is admitted only if every row could
 * grow to the longest reservation without the batch passing the KV budget:
 * the cache never outgrows its budget and no request has to be retracted.
 */
export class Scheduler<R extends Schedulable> {
  private readonly queue: R[] = [];

  constructor(readonly limits: EngineLimits) {}

  get waiting(): number {
    return this.queue.length;
  }

  enqueue(req: R): void {
    this.queue.push(req);
  }

  /** Removes a waiting request; returns it, or undefined if it was not waiting. */
  remove(rid: string): R | undefined {
    const i = this.queue.findIndex((r) => r.rid === rid);
    return i < 0 ? undefined : this.queue.splice(i, 1)[0];
  }

  /** Cache tokens the running requests have reserved in the dense layout. */
  reserved(running: readonly Schedulable[]): number {
    let longest = 0;
    for (const r of running) longest = Math.max(longest, reservation(r));
    return running.length * longest;
  }

  /**
   * Takes the requests to prefill next, first come first served. It stops at
   * the first request that does not fit, so a long prompt is not passed over
   * forever by shorter ones behind it. `cached` says how many of a prompt's
   * tokens the prefix cache holds: the prefill budget counts only the rest.
   * `waits` stops the run before a request that would do better in the next
   * one (it shares a prefix with one already taken, which the cache will
   * hold once this run is done).
   */
  admit(running: readonly Schedulable[], cached: (r: R) => number = () => 0, waits: (r: R, taken: readonly R[]) => boolean = () => false): R[] {
    const { maxRunningRequests, maxTotalTokens, maxPrefillTokens } = this.limits;
    let rows = running.length;
    let longest = 0;
    for (const r of running) longest = Math.max(longest, reservation(r));
    let widest = 0;
    const chosen: R[] = [];
    for (const req of this.queue) {
      const nextLongest = Math.max(longest, reservation(req));
      if (rows + 1 > maxRunningRequests) break;
      if ((rows + 1) * nextLongest > maxTotalTokens) break;
      const nextWidest = Math.max(widest, req.promptLength - cached(req));
      // A prompt longer than the budget runs alone, in chunks.
      if (chosen.length > 0 && ((chosen.length + 1) * nextWidest > maxPrefillTokens || waits(req, chosen))) break;
      chosen.push(req);
      rows++;
      longest = nextLongest;
      widest = nextWidest;
    }
    return this.queue.splice(0, chosen.length);
  }
}
