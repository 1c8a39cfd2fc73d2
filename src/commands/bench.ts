import { writeFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { engineFlags, engineOptions } from '../lib/cli/engine_flags.js';
import { COMPARE_DEFAULTS, arrivalFlags, compareFlags, driverOptions, failureVerdict, maxFailuresFlag, sloFlag } from '../lib/cli/bench_flags.js';
import { SglCommand } from '../lib/cli/sgl_command.js';
import { httpBenchFlags, targetFlags } from '../lib/cli/target_flags.js';
import { tracingFlags, tracingSetup } from '../lib/cli/tracing_flags.js';
import type { BenchResult } from '../lib/benchmark/run_bench.js';
import { workloadFlags, workloadOptions } from '../lib/cli/workload_flags.js';

export default class Bench extends SglCommand {
  static override summary = 'Load-benchmark the engine or any OpenAI-compatible server; compare tracing overhead per level.';
  static override examples = [
    '<%= config.bin %> bench --num-prompts 100 --max-concurrency 8',
    '<%= config.bin %> bench --compare-trace-levels --repeats 3 --max-concurrency 8',
    '<%= config.bin %> bench --url http://127.0.0.1:30000 --request-rate 20 --burstiness 0.5 --slo ttft=200,tpot=50',
    '<%= config.bin %> bench --dataset trace --dataset-path trace.json --json --output result.json --html report.html',
  ];

  static override flags = {
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
  };

  async run(): Promise<Omit<BenchResult, 'outcomes'>> {
    const { flags } = await this.parse(Bench);
    const compare = flags['compare-trace-levels'];
    if (flags.output === '-' && this.jsonEnabled())
      this.error('--json and -o - would both write to stdout; -o - already writes the JSON (with every outcome).', { exit: 2 });
    const { runBench } = await import('../lib/benchmark/run_bench.js');
    const { formatBench } = await import('../lib/report/bench_report.js');
    const bar = this.progressBar();
    const result = await runBench(
      {
        urls: flags.url,
        policy: flags['url-policy'],
        endpoint: flags.endpoint,
        apiKey: flags['api-key'],
        tokenizePrompt: flags['tokenize-prompt'],
        serverTiming: flags['server-timing'],
        engine: engineOptions(flags),
        tracing: tracingSetup(flags),
        workload: workloadOptions(flags, compare ? COMPARE_DEFAULTS.numPrompts : 50),
        driver: driverOptions(flags),
        slo: flags.slo ?? null,
        compareLevels: compare ? (flags.levels ?? [0, 1, 2, 3]) : null,
        repeats: flags.repeats ?? COMPARE_DEFAULTS.repeats,
        // A fixed --repeats without --target-ci runs exactly that many rounds.
        targetCi:
          compare && (flags['target-ci'] !== undefined || flags.repeats === undefined) ? (flags['target-ci'] ?? COMPARE_DEFAULTS.targetCiPct) / 100 : null,
        budgetMs: flags['max-duration'] * 1000,
      },
      bar?.update,
    );
    bar?.done();
    // With -o - the data owns stdout and the report moves to stderr.
    const report = (text: string): void => (flags.output === '-' ? void process.stderr.write(text) : this.say(text));
    for (const warning of result.warnings ?? []) this.warn(warning);
    report(formatBench(result));
    const { benchServingFields } = await import('../lib/benchmark/statistics.js');
    const { outcomes, ...rest } = result;
    const summary = { ...rest, metrics: { ...rest.metrics, ...benchServingFields(rest.metrics) } };
    if (flags.output) {
      const data = JSON.stringify({ ...summary, outcomes }, null, 2);
      if (flags.output === '-') await new Promise<void>((done) => process.stdout.write(data + '\n', () => done()));
      else writeFileSync(flags.output, data);
    }
    if (flags.html) {
      const { benchHtml } = await import('../lib/report/bench_html.js');
      // The CDFs show the first run (with --compare-trace-levels, the first level's first repeat).
      const series = [{ name: result.levels ? `level ${result.levels[0].level}` : 'run', outcomes }];
      writeFileSync(
        flags.html,
        benchHtml({
          title: 'sgl bench',
          target: result.target,
          workload: result.workload,
          metrics: result.metrics,
          series,
          levels: result.levels ?? undefined,
          stages: result.stages ?? undefined,
        }),
      );
    }
    const runs = result.levels ? result.levels.flatMap((l) => l.runs.map((r) => r.metrics)) : [result.metrics];
    const failed = runs.reduce((a, m) => a + m.failed, 0);
    const why = failureVerdict(
      failed,
      runs.reduce((a, m) => a + m.failed + m.completed, 0),
      flags['max-failures'],
    );
    if (why) this.error(why, { exit: 1 });
    return summary;
  }
}
