import { Errors, Flags } from '@oclif/core';
import type { Interfaces } from '@oclif/core';
import type { DriverOptions } from '../target/driver.js';
import type { Slo } from '../benchmark/statistics.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import { numberFlag } from './number_flag.js';

const usage = (message: string): never => {
  throw new Errors.CLIError(message, { exit: 2 });
};

/** `--request-rate`: requests per second, or inf to send everything at once. */
export const requestRateFlag = Flags.custom<number>({
  default: Infinity,
  description: 'Requests per second (Poisson arrivals, shaped by --burstiness); inf sends all at once.',
  parse: async (v) => {
    if (/^inf(inity)?$/i.test(v)) return Infinity;
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : usage(`Expected a positive number or inf but received: ${v}`);
  },
})();

/** `--slo ttft=200,tpot=50,e2e=5000` (milliseconds). */
export const sloFlag = Flags.custom<Slo>({
  description: 'Service-level objectives in ms for goodput, e.g. ttft=200,tpot=50,e2e=5000.',
  parse: async (v) => {
    const slo: Slo = {};
    const keys: Record<string, keyof Slo> = { ttft: 'ttftMs', tpot: 'tpotMs', e2e: 'e2eMs' };
    for (const part of v.split(',')) {
      const [k, raw] = part.split('=');
      const n = Number(raw);
      if (!keys[k?.trim()] || !Number.isFinite(n) || n <= 0) usage(`--slo takes ttft=MS,tpot=MS,e2e=MS with positive numbers; cannot read "${part}".`);
      slo[keys[k.trim()]] = n;
    }
    return slo;
  },
})();

/** `--levels 0,1,2,3` for --compare-trace-levels. */
const levelsFlag = Flags.custom<TraceLevel[]>({
  description: 'Trace levels --compare-trace-levels runs (default 0,1,2,3).',
  helpGroup: 'COMPARE',
  dependsOn: ['compare-trace-levels'],
  parse: async (v) => {
    const levels = v.split(',').map((s) => Number(s.trim()));
    if (levels.length === 0 || levels.some((l) => !Number.isInteger(l) || l < 0 || l > 3))
      usage(`--levels takes trace levels 0-3 separated by commas, got ${v}.`);
    return [...new Set(levels)] as TraceLevel[];
  },
})();

/**
 * What `sgl bench --compare-trace-levels` runs when not told otherwise,
 * sized with bench/level_noise.ts on the embedded model on a 2-core machine:
 * one run's throughput varies 5-7% from run to run however long the run
 * (a fresh engine and its threads sharing two cores), so rounds, not longer
 * runs, narrow the interval. At 100 prompts a run (about 4.5 s with the
 * engine's start) rounds reach ±5% in about two and a half minutes, the
 * least of the sizes tried; ±2% would take a quarter of an hour there.
 */
export const COMPARE_DEFAULTS = { numPrompts: 100, repeats: 3, targetCiPct: 5, maxDurationS: 300 } as const;

/** How many failed requests a run may have and still pass: a count, or a share of the requests. */
export interface FailureLimit {
  count?: number;
  fraction?: number;
}

/** `--max-failures 10%` or `--max-failures 3`. */
export const maxFailuresFlag = Flags.custom<FailureLimit>({
  description:
    'Exit 1 when more requests than this fail: a count (3) or a share (10%). Beyond it the figures describe the requests that survived, not the workload asked for; raise it (e.g. 100%) for overload tests that expect refusals. A run where every request failed always exits 1.',
  default: { fraction: 0.1 },
  defaultHelp: async () => '10%',
  helpGroup: 'WORKLOAD',
  parse: async (v) => {
    if (v.trim().endsWith('%')) {
      const n = Number(v.trim().slice(0, -1));
      return Number.isFinite(n) && n >= 0 && n <= 100 ? { fraction: n / 100 } : usage(`--max-failures takes a count or a percentage from 0% to 100%, got ${v}`);
    }
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? { count: n } : usage(`--max-failures takes a count (such as 3) or a percentage (such as 10%), got ${v}`);
  },
})();

/** Why a run with these counts fails the limit, or null when it passes. */
export function failureVerdict(failed: number, total: number, limit: FailureLimit): string | null {
  if (total > 0 && failed === total) return `All ${total} requests failed; see the failures above.`;
  const allowed = limit.count ?? Math.floor((limit.fraction ?? 0) * total);
  if (failed > allowed)
    return `${failed} of ${total} requests failed, more than --max-failures allows (${limit.count ?? `${((limit.fraction ?? 0) * 100).toFixed(0)}%, ${allowed}`}); the figures above describe only the requests that completed.`;
  return null;
}

const compare = { helpGroup: 'COMPARE', dependsOn: ['compare-trace-levels'] };

/** --compare-trace-levels and the flags that belong to it (oclif refuses them without it). */
export const compareFlags = {
  'compare-trace-levels': Flags.boolean({
    description:
      'Run the same workload at each trace level (fresh engine per run, levels interleaved) and say per level whether tracing costs throughput or latency.',
    helpGroup: 'COMPARE',
  }),
  levels: levelsFlag,
  repeats: Flags.integer({
    min: 1,
    description: `Rounds of --compare-trace-levels (default: ${COMPARE_DEFAULTS.repeats}); with --target-ci, the fewest.`,
    ...compare,
  }),
  'target-ci': numberFlag({
    min: 0,
    exclusiveMin: true,
    max: 100,
    description: `--compare-trace-levels: add rounds until every throughput ratio's 95% CI is within ± this many percent (default: ${COMPARE_DEFAULTS.targetCiPct}).`,
    ...compare,
  }),
  'max-duration': numberFlag({
    min: 0,
    exclusiveMin: true,
    default: COMPARE_DEFAULTS.maxDurationS,
    description: 'Seconds --target-ci may take; when they run out first, the comparison is reported as inconclusive.',
    helpGroup: 'COMPARE',
  }),
};

/** When requests are sent: the arrival process, the concurrency cap and the warm-up. */
export const arrivalFlags = {
  'request-rate': requestRateFlag,
  burstiness: numberFlag({ min: 0, exclusiveMin: true, default: 1, description: 'Gamma shape of inter-arrival times; 1 is Poisson, lower is burstier.' }),
  'max-concurrency': Flags.integer({ min: 1, description: 'Most requests in flight (default: no cap).' }),
  warmup: Flags.integer({
    min: 0,
    description:
      'Copies of the first requests sent first, one at a time, not measured (default: 2); to a server they carry ids warmup-… (X-Request-Id) and X-Sgl-Warmup: 1. Given alone, exactly these warm-ups are sent (no --warmup-max-s rounds).',
  }),
  'warmup-max-s': numberFlag({
    min: 0,
    description:
      "Seconds of warm-up rounds after --warmup: requests of the workload's shapes sent together, round after round, until their TTFT settles (default: 10 with --url, where the server may be cold, unless --warmup is given; 0 in-process, where --warmup warms the fresh engine).",
  }),
};

/** The parsed arrival flags (and the workload's seed) as the driver takes them. */
export function driverOptions(f: Interfaces.InferredFlags<typeof arrivalFlags> & { seed: number; url?: string[] }): DriverOptions {
  return {
    // A server may be cold: warm it until TTFT settles, unless the warm-ups were counted out with --warmup.
    warmupMaxS: f['warmup-max-s'] ?? (f.url?.length && f.warmup === undefined ? 10 : 0),
    requestRate: f['request-rate'],
    burstiness: f.burstiness,
    maxConcurrency: f['max-concurrency'] ?? Infinity,
    seed: f.seed,
    warmup: f.warmup ?? 2,
    replayArrivals: false,
  };
}
