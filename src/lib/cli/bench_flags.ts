import { Errors, Flags } from '@oclif/core';
import type { Slo } from '../bench/statistics.js';
import type { TraceLevel } from '../tracing/trace_config.js';

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
export const levelsFlag = Flags.custom<TraceLevel[]>({
  description: 'Trace levels --compare-trace-levels runs (default 0,1,2,3).',
  helpGroup: 'COMPARE',
  parse: async (v) => {
    const levels = v.split(',').map((s) => Number(s.trim()));
    if (levels.length === 0 || levels.some((l) => !Number.isInteger(l) || l < 0 || l > 3)) usage(`--levels takes trace levels 0-3 separated by commas, got ${v}.`);
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
