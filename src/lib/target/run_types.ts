/** What the load driver is asked to do, and what it saw. */

export interface DriverOptions {
  /** Requests per second; Infinity sends all at once. Ignored when the workload fixes arrivals and `replayArrivals` is set. */
  requestRate: number;
  burstiness: number;
  maxConcurrency: number;
  seed: number;
  warmup: number;
  /**
   * After the `warmup` copies, warm-up rounds of the workload's shapes until
   * their TTFT settles, for at most this many seconds (0: none).
   */
  warmupMaxS?: number;
  /** Multi-turn: conversations in progress at once, and the pause between an answer and the next turn (ms). */
  sessions?: number;
  thinkTimeMs?: number;
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
  /** Every request was sent at once (no arrival gaps, no concurrency cap that holds any back): a burst, with no steady state to check. */
  burst?: boolean;
}
