import type { FinishedRequest } from './finished_request.js';

/**
 * Tail-based sampling: which finished requests are exported. Every request
 * is recorded at its level and feeds the metrics; the rules pick, when it
 * ends, the ones whose traces are worth keeping. A request is kept when any
 * rule keeps it.
 */
export type KeepRule =
  | { kind: 'error' }
  | { kind: 'slow'; metric: 'e2e' | 'ttft'; overMs: number }
  | { kind: 'slow-quantile'; metric: 'e2e' | 'ttft'; quantile: number }
  | { kind: 'rate'; share: number };

export const KEEP_RULE_HELP = 'error, slow:e2e>2s, slow:ttft>500ms, slow:ttft>p99, rate:0.01 (comma-separated; a request is kept when any rule keeps it)';

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

function parseRule(text: string): KeepRule {
  const t = text.trim();
  if (t === 'error') return { kind: 'error' };
  const rate = /^rate:(\d*\.?\d+)$/.exec(t);
  if (rate) {
    const share = Number(rate[1]);
    if (share > 0 && share <= 1) return { kind: 'rate', share };
  }
  const slow = /^slow:(e2e|ttft)>(?:p(\d+(?:\.\d+)?)|(\d*\.?\d+)(us|ms|s))$/.exec(t);
  if (slow) {
    const metric = slow[1] as 'e2e' | 'ttft';
    if (slow[2] !== undefined) {
      const quantile = Number(slow[2]) / 100;
      if (quantile > 0 && quantile < 1) return { kind: 'slow-quantile', metric, quantile };
    } else {
      return { kind: 'slow', metric, overMs: Number(slow[3]) * UNIT_MS[slow[4]] };
    }
  }
  throw new Error(`${JSON.stringify(t)} is not a keep rule; rules are ${KEEP_RULE_HELP}.`);
}

/** Parses `--trace-keep`; throws with the rule that is wrong and the forms that are right. */
export function parseKeepRules(text: string): KeepRule[] {
  const parts = text.split(',').filter((p) => p.trim() !== '');
  if (parts.length === 0) throw new Error(`--trace-keep needs at least one rule: ${KEEP_RULE_HELP}.`);
  return parts.map(parseRule);
}

export function describeRule(r: KeepRule): string {
  switch (r.kind) {
    case 'error':
      return 'error';
    case 'rate':
      return `rate:${r.share}`;
    case 'slow':
      return `slow:${r.metric}>${r.overMs}ms`;
    case 'slow-quantile':
      return `slow:${r.metric}>p${+(r.quantile * 100).toFixed(4)}`;
  }
}

/**
 * A running quantile over log-spaced buckets (2% wide, 1 µs to about 5.7 hours):
 * constant memory, an increment per value, a scan of ~1,200 counters per
 * question. A value counts as above the quantile of the values before it;
 * until there are enough of those for the quantile to mean anything, as
 * above their maximum.
 */
export class RunningQuantile {
  private static readonly BASE = Math.log(1.02);
  private static readonly MIN_MS = 0.001;
  private readonly counts = new Float64Array(1200);
  private count = 0;
  private max = -Infinity;

  constructor(private readonly q: number) {}

  private bucket(ms: number): number {
    const i = Math.floor(Math.log(Math.max(ms, RunningQuantile.MIN_MS) / RunningQuantile.MIN_MS) / RunningQuantile.BASE);
    return Math.min(this.counts.length - 1, i);
  }

  /** Whether `ms` is above the quantile of the values seen so far; then it joins them. */
  above(ms: number): boolean {
    let result: boolean;
    if (this.count < 1 / (1 - this.q)) {
      result = ms > this.max;
    } else {
      // The bucket holding the quantile: above it is above the quantile (within the bucket's 2%).
      const rank = this.q * this.count;
      let seen = 0;
      let b = 0;
      for (; b < this.counts.length; b++) {
        seen += this.counts[b];
        if (seen >= rank) break;
      }
      result = this.bucket(ms) > b;
    }
    this.counts[this.bucket(ms)]++;
    this.count++;
    this.max = Math.max(this.max, ms);
    return result;
  }
}

/** Decides, per finished request, whether its trace is exported. */
export class TailSampler {
  private readonly quantiles: (RunningQuantile | null)[];
  kept = 0;
  seen = 0;

  constructor(
    readonly rules: readonly KeepRule[],
    private readonly random: () => number = Math.random,
  ) {
    this.quantiles = rules.map((r) => (r.kind === 'slow-quantile' ? new RunningQuantile(r.quantile) : null));
  }

  /** The rules as given (for the trace header and reports). */
  get description(): string[] {
    return this.rules.map(describeRule);
  }

  keep(req: FinishedRequest): boolean {
    const w = req.workload;
    let keep = false;
    // Every quantile sees every request, kept or not, so the running quantiles describe the whole workload.
    this.rules.forEach((r, i) => {
      const value = r.kind === 'slow' || r.kind === 'slow-quantile' ? (r.metric === 'e2e' ? w.e2eMs : w.ttftMs) : null;
      switch (r.kind) {
        case 'error':
          keep ||= req.error !== null || w.finishReason === 'error' || w.finishReason === 'abort';
          break;
        case 'rate':
          keep ||= this.random() < r.share;
          break;
        case 'slow':
          keep ||= value !== null && value > r.overMs;
          break;
        case 'slow-quantile':
          if (value !== null && this.quantiles[i]!.above(value)) keep = true;
          break;
      }
    });
    this.seen++;
    if (keep) this.kept++;
    return keep;
  }
}
