import { Flags } from '@oclif/core';
import type { Interfaces } from '@oclif/core';
import type { BenchOptions, BenchResult } from '../benchmark/run_bench.js';
import { COMPARE_DEFAULTS, arrivalFlags, compareFlags, driverOptions, failureVerdict, maxFailuresFlag, sloFlag } from './bench_flags.js';
import type { FailureLimit } from './bench_flags.js';
import { withAnchorNames } from './anchor_names.js';
import { engineFlags, engineOptions } from './engine_flags.js';
import { httpBenchFlags, targetFlags } from './target_flags.js';
import { tracingFlags, tracingSetup } from './tracing_flags.js';
import { workloadFlags, workloadOptions } from './workload_flags.js';

/** Every flag of sgl bench, by group. */
export const benchFlags = withAnchorNames({
  ...engineFlags,
  ...tracingFlags(1),
  ...targetFlags,
  ...httpBenchFlags,
  ...workloadFlags,
  ...arrivalFlags,
  'max-failures': maxFailuresFlag,
  slo: sloFlag,
  ...compareFlags,
  output: Flags.string({
    char: 'o',
    description: "Write the results, every request's outcome included, as JSON to this file, or to stdout with - (the report then goes to stderr).",
  }),
  html: Flags.string({ description: 'Write a self-contained HTML report with charts to this file.' }),
});

/** The parsed flags as runBench's options. */
export function benchOptions(f: Interfaces.InferredFlags<typeof benchFlags>): BenchOptions {
  const compare = f['compare-trace-levels'];
  return {
    urls: f.url,
    policy: f['url-policy'],
    endpoint: f.endpoint,
    apiKey: f['api-key'],
    tokenizePrompt: f['tokenize-prompt'],
    serverTiming: f['server-timing'],
    engine: engineOptions(f),
    tracing: tracingSetup(f),
    workload: workloadOptions(f, compare ? COMPARE_DEFAULTS.numPrompts : 50),
    driver: { ...driverOptions(f), sessions: f.sessions, thinkTimeMs: f['think-time'] * 1000 },
    slo: f.slo ?? null,
    compareLevels: compare ? (f.levels ?? [0, 1, 2, 3]) : null,
    repeats: f.repeats ?? COMPARE_DEFAULTS.repeats,
    // A fixed --repeats without --target-ci runs exactly that many rounds.
    targetCi: compare && (f['target-ci'] !== undefined || f.repeats === undefined) ? (f['target-ci'] ?? COMPARE_DEFAULTS.targetCiPct) / 100 : null,
    budgetMs: f['max-duration'] * 1000,
  };
}

/** Why the run fails under --max-failures, counting every run of a level comparison; null when it passes. */
export function benchVerdict(result: BenchResult, limit: FailureLimit): string | null {
  const runs = result.levels ? result.levels.flatMap((l) => l.runs.map((r) => r.metrics)) : [result.metrics];
  let failed = 0;
  let total = 0;
  for (const m of runs) {
    failed += m.failed;
    total += m.failed + m.completed;
  }
  return failureVerdict(failed, total, limit);
}
