import { Errors, Flags } from '@oclif/core';
import type { Interfaces } from '@oclif/core';
import type { EngineOptions } from '../engine/engine_defaults.js';
import type { CostScale, ReplayOptions } from '../replay/replay_result.js';
import { MODULE_NAMES } from '../tracing/stages.js';
import type { TraceModule } from '../tracing/stages.js';
import { maxFailuresFlag } from './bench_flags.js';
import { numberFlag } from './number_flag.js';
import { parseModuleFlag } from './tracing_flags.js';
import type { targetFlags } from './target_flags.js';

/** `--time-window FROM:TO` in seconds of the capture, as [from, to) ms. */
const timeWindowFlag = Flags.custom<[number, number]>({
  description: 'Replay only requests that arrived in FROM:TO seconds of the capture.',
  parse: async (v) => {
    const [a, b] = v.split(':').map(Number);
    if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a)
      throw new Errors.CLIError(`--time-window takes FROM:TO in seconds with FROM < TO, got ${v}`, { exit: 2 });
    return [a * 1000, b * 1000];
  },
})();

/** `--tolerance 10%` or `0.1`, as a fraction. */
const toleranceFlag = Flags.custom<number>({
  description: "Exit 1 when a stage's p50 drifts further than this (e.g. 10%) and further than --tolerance-floor.",
  parse: async (v) => {
    const n = v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Errors.CLIError(`--tolerance takes a percentage such as 10% or a fraction such as 0.1, got ${v}`, { exit: 2 });
    return n;
  },
})();

/** `--cost-scale F` (every cost) or `prefill=F,decode=G`: factors on the simulator's fitted costs. */
const costScaleFlag = Flags.custom<CostScale>({
  description:
    'With --simulate: multiply the fitted costs, all (0.5: a machine twice as fast) or prefill=F,decode=G (decode steps and their repacks). For what-if runs, or a profile made while the machine ran at another speed (bench/simulator_check.ts measures that).',
  dependsOn: ['simulate'],
  parse: async (v) => {
    const bad = (): never => {
      throw new Errors.CLIError(`--cost-scale takes a positive factor such as 0.8, or prefill=F,decode=G, got ${v}`, { exit: 2 });
    };
    const factor = (x: string | undefined): number => {
      const n = Number(x);
      return x !== undefined && x.trim() !== '' && Number.isFinite(n) && n > 0 ? n : bad();
    };
    if (!v.includes('=')) return { prefill: factor(v), decode: factor(v) };
    const scale = { prefill: 1, decode: 1 };
    for (const part of v.split(',')) {
      const [key, value] = part.split('=');
      if (key.trim() !== 'prefill' && key.trim() !== 'decode') bad();
      scale[key.trim() as keyof CostScale] = factor(value);
    }
    return scale;
  },
})();

/** What sgl replay takes besides the engine and target flags. */
export const replayFlags = {
  speed: numberFlag({ min: 0, exclusiveMin: true, default: 1, description: 'Time scale: 2 halves the gaps between arrivals.' }),
  limit: Flags.integer({ min: 1, description: 'Replay only the first N requests.' }),
  'time-window': timeWindowFlag,
  output: Flags.string({
    description:
      "The replay's own trace file (default: FILE with .replay.json, for sgl trace captures replayed in-process). With --url it holds the client's side of each request, under the trace ids the server continues.",
  }),
  html: Flags.string({ description: 'Write a self-contained HTML report (fidelity table, latency CDFs) to this file.' }),
  tolerance: toleranceFlag,
  'tolerance-floor': numberFlag({
    min: 0,
    default: 0.5,
    description: 'Milliseconds of p50 a drift must also exceed to fail --tolerance: below it, sub-millisecond stages differ by timer noise alone.',
  }),
  simulate: Flags.boolean({
    description: 'Predict timings without running the model, from models fitted to the capture (or to --profile).',
    exclusive: ['url'],
  }),
  profile: Flags.string({
    description:
      'With --simulate: an sgl trace of this model and engine to fit the timing models on, so any workload (a public trace too) can be simulated at full scale. Captured at trace level 3 with the scheduler and engine modules, decode steps are fitted one by one.',
    dependsOn: ['simulate'],
  }),
  'fit-context': Flags.option({
    options: ['scale', 'clip', 'skip'] as const,
    default: 'scale' as const,
    description:
      "How a public trace's requests are made to fit the model: scale every length by one factor (keeps the shape of the length distribution), clip only those that do not fit, or skip them. Rows with zero input or output tokens are always skipped and counted.",
  })(),
  'cost-scale': costScaleFlag,
  'trace-level': Flags.integer({
    min: 0,
    max: 3,
    exclusive: ['simulate'],
    description:
      "The replay's own trace level (default: the capture's; 2 for a public trace). 3 with --trace-module request,scheduler,engine records every engine step: the replay is then a profile for --simulate.",
    helpGroup: 'TRACING',
  }),
  'trace-module': Flags.custom<TraceModule[]>({
    description: `The replay's own trace modules, comma-separated: ${MODULE_NAMES.join(', ')} (default: the capture's; request for a public trace).`,
    exclusive: ['simulate'],
    helpGroup: 'TRACING',
    parse: parseModuleFlag,
  })(),
  'max-failures': maxFailuresFlag,
  seed: Flags.integer({ min: 0, default: 1, description: 'Seed for token ids of requests captured without content.' }),
  warmup: Flags.integer({
    min: 0,
    description:
      "Copies of the first requests sent first, not measured, under ids warmup-… (default: 2 in-process; none with --url, so a server sees exactly the capture's requests).",
  }),
};

/** The parsed flags as runReplay's options; the output file defaults to FILE.replay.json for an in-process replay of a capture. */
export function replayOptions(file: string, f: Interfaces.InferredFlags<typeof replayFlags & typeof targetFlags>, engine: EngineOptions): ReplayOptions {
  return {
    file,
    urls: f.url,
    policy: f['url-policy'],
    endpoint: f.endpoint,
    apiKey: f['api-key'],
    engine,
    speed: f.speed,
    limit: f.limit ?? Infinity,
    timeWindow: f['time-window'] ?? null,
    output: f.output ?? (f.url || f.simulate ? undefined : `${file.replace(/\.json$/, '')}.replay.json`),
    tolerance: f.tolerance ?? null,
    toleranceFloorMs: f['tolerance-floor'],
    simulate: f.simulate,
    seed: f.seed,
    warmup: f.warmup,
    fitContext: f['fit-context'],
    profile: f.profile,
    traceLevel: f['trace-level'],
    traceModules: f['trace-module'],
    costScale: f['cost-scale'],
  };
}
