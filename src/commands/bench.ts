import { writeFileSync } from 'node:fs';
import { benchFlags, benchOptions, benchVerdict } from '../lib/cli/bench_options.js';
import { SglCommand } from '../lib/cli/sgl_command.js';
import type { BenchResult } from '../lib/benchmark/run_bench.js';

export default class Bench extends SglCommand {
  static override summary = 'Load-benchmark the engine or any OpenAI-compatible server; compare tracing overhead per level.';
  static override examples = [
    '<%= config.bin %> bench --num-prompts 100 --max-concurrency 8',
    '<%= config.bin %> bench --compare-trace-levels --repeats 3 --max-concurrency 8',
    '<%= config.bin %> bench --url http://127.0.0.1:30000 --request-rate 20 --burstiness 0.5 --slo ttft=200,tpot=50',
    '<%= config.bin %> bench --dataset trace --dataset-path trace.json --json --output result.json --html report.html',
  ];

  static override flags = benchFlags;

  async run(): Promise<Omit<BenchResult, 'outcomes'>> {
    const { flags } = await this.parse(Bench);
    if (flags.output === '-' && this.jsonEnabled())
      this.error('--json and -o - would both write to stdout; -o - already writes the JSON (with every outcome).', { exit: 2 });
    const { runBench } = await import('../lib/benchmark/run_bench.js');
    const { formatBench } = await import('../lib/report/bench_report.js');
    const bar = this.progressBar();
    const result = await runBench(benchOptions(flags), bar?.update);
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
      const { benchResultHtml } = await import('../lib/report/bench_html.js');
      writeFileSync(flags.html, benchResultHtml(result));
    }
    const why = benchVerdict(result, flags['max-failures']);
    if (why) this.error(why, { exit: 1 });
    return summary;
  }
}
