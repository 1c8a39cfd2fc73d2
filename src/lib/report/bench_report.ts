import chalk from 'chalk';
import Table from 'cli-table3';
import { compactTable } from './compact_table.js';
import { printable } from './terminal_text.js';
import type { LevelComparison, LevelRow } from '../benchmark/compare_levels.js';
import type { BenchResult, TargetRow } from '../benchmark/run_bench.js';
import { formatStageTable } from './stage_table.js';
import type { BenchMetrics, FailureKind } from '../benchmark/statistics.js';
import type { HalfComparison } from '../benchmark/steady_state.js';
import type { Distribution, MeanCi } from '../stats/distribution.js';
import type { Verdict } from '../stats/significance.js';

const f = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** The run's summary and latency tables, as bench_serving lays them out. */
export function formatBenchMetrics(m: BenchMetrics, target: string, workload: string): string {
  const summary = compactTable();
  summary.push(
    [chalk.bold('Target'), target],
    [chalk.bold('Workload'), workload],
    ['Successful requests', String(m.completed)],
    ['Failed requests', m.failed ? chalk.red(String(m.failed)) : '0'],
    ['Benchmark duration (s)', f(m.duration_s)],
    ['Total input tokens', String(m.total_input_tokens)],
    ['Total output tokens', String(m.total_output_tokens)],
    ['Request throughput (req/s)', f(m.request_throughput)],
    ['Input token throughput (tok/s)', f(m.input_throughput)],
    ['Output token throughput (tok/s)', f(m.output_throughput)],
    ['Total token throughput (tok/s)', f(m.total_throughput)],
    ['Concurrency (peak / mean)', `${m.peak_concurrency} / ${f(m.mean_concurrency)}`],
  );
  if (m.goodput !== null) summary.push(['Goodput (req/s)', f(m.goodput)]);
  if (m.cache_hit_rate !== null) summary.push(['Prefix cache hit rate', `${f(m.cache_hit_rate * 100, 1)}% (${m.cached_tokens} cached prompt tokens)`]);
  if (m.warmup) summary.push(['Warm-up requests (not measured)', String(m.warmup)]);
  const latency = compactTable(['ms', 'mean', '± 95% CI', 'median', 'std', 'p90', 'p95', 'p99']);
  const row = (name: string, d: Distribution): void => void latency.push([name, f(d.mean), f(d.ci95), f(d.median), f(d.std), f(d.p90), f(d.p95), f(d.p99)]);
  row('TTFT', m.ttft_ms);
  row('TPOT', m.tpot_ms);
  row('ITL', m.itl_ms);
  row('E2E', m.e2e_latency_ms);
  if (m.transport_ms) row('Transport (client − server TTFT)', m.transport_ms);
  const unsteady = formatHalves(m.halves);
  return `${summary.toString()}\n${latency.toString()}${m.failures.length ? `\n${formatFailures(m.failures)}` : ''}${unsteady ? `\n${unsteady}` : ''}`;
}

/** A warning, with both medians, for each figure whose halves differ; empty when the run was steady. */
export function formatHalves(halves: readonly HalfComparison[]): string {
  const names = { ttft: 'TTFT', tpot: 'TPOT' };
  const lines = halves
    .filter((h) => h.differs)
    .map(
      (h) =>
        `${chalk.yellow('Warning:')} ${names[h.figure]} p50 was ${f(h.firstMedianMs)} ms in the first half of the run and ${f(h.secondMedianMs)} ms in the second (Mann-Whitney ${h.p < 0.001 ? 'p<0.001' : `p=${h.p.toFixed(3)}`}).`,
    );
  if (!lines.length) return '';
  const slower = halves.find((h) => h.differs)!;
  const why =
    slower.firstMedianMs > slower.secondMedianMs
      ? 'The target was still warming up: raise --warmup or --warmup-max-s, or run again.'
      : 'A queue built up: the arrival rate is past what the target sustains, so later requests wait longer (lower --request-rate or --max-concurrency for a steady run).';
  return `${lines.join('\n')}\nThe run was not in a steady state. ${why}`;
}

/** A fleet's servers side by side: what each served of the run. */
export function formatTargets(rows: readonly TargetRow[]): string {
  const table = compactTable(['server', 'completed', 'failed', 'TTFT p50 ms', 'TTFT p99 ms', 'E2E p50 ms', 'output tok/s'], 1);
  for (const r of rows)
    table.push([
      printable(r.url),
      String(r.completed),
      r.failed ? chalk.red(String(r.failed)) : '0',
      f(r.ttftP50Ms),
      f(r.ttftP99Ms),
      f(r.e2eP50Ms),
      f(r.outputThroughput),
    ]);
  return table.toString();
}

/** One row per kind of failure, with its count and one message as given; long messages are wrapped, not widened. */
export function formatFailures(failures: readonly FailureKind[]): string {
  const table = new Table({
    head: ['failed', 'kind of failure', 'for example'],
    colWidths: [8, 56, 56],
    wordWrap: true,
    style: { head: [], border: [] },
    colAligns: ['right', 'left', 'left'],
  });
  for (const k of failures) table.push([String(k.count), chalk.red(printable(k.kind)), printable(k.example.slice(0, 300))]);
  return table.toString();
}

const ratio = (r: MeanCi): string => `${f(r.mean, 3)}x ± ${f(r.ci95, 3)}`;
const pct = (v: number): string => `${(Math.abs(v) * 100).toFixed(1)}%`;

/** One figure's verdict in words: "3.1% lower (significant)", or that it cannot be told from noise. */
function say(name: string, v: Verdict, ci: MeanCi): string {
  if (v.significant === null) return `${name}: too few rounds to tell`;
  if (!v.significant) return `${name}: no significant difference (${v.change >= 0 ? '+' : '-'}${pct(v.change)} ± ${pct(ci.ci95)})`;
  return `${name} ${pct(v.change)} ${v.change > 0 ? 'higher' : 'lower'} (± ${pct(ci.ci95)}, significant)`;
}

/** One row per trace level: throughput and latencies as ratios to the base level with 95% CIs, then a verdict per level and figure. */
export function formatLevelComparison(rows: readonly LevelRow[], how: Omit<LevelComparison, 'rows'>): string {
  const base = rows[0].level;
  const table = compactTable(['level', 'output tok/s', `throughput vs ${base}`, `TTFT vs ${base}`, `TPOT vs ${base}`, `E2E vs ${base}`, 'spans/request']);
  for (const r of rows) {
    table.push([
      String(r.level),
      `${f(r.outputThroughput.mean, 1)} ± ${f(r.outputThroughput.ci95, 1)}`,
      ratio(r.throughputRatio),
      ratio(r.ttftRatio),
      ratio(r.tpotRatio),
      ratio(r.e2eRatio),
      r.spansPerRequest === null ? '-' : f(r.spansPerRequest, 1),
    ]);
  }
  const lines = [
    table.toString(),
    chalk.dim(`Ratios are per round against level ${base}, then mean ± 95% confidence interval (Student's t, ${how.rounds - 1} degrees of freedom).`),
  ];
  for (const r of rows) {
    if (!r.verdicts) continue;
    const v = r.verdicts;
    const words = [
      say('throughput', v.throughput, r.throughputRatio),
      say('TTFT', v.ttft, r.ttftRatio),
      say('TPOT', v.tpot, r.tpotRatio),
      say('E2E', v.e2e, r.e2eRatio),
    ];
    lines.push(`Level ${r.level} vs ${base}: ${words.join('; ')}.`);
  }
  const verdicts = rows.filter((r) => r.verdicts).length * 4;
  if (verdicts >= 8)
    lines.push(
      chalk.dim(
        `${verdicts} verdicts at 95%: about one in twenty differences called significant is noise; a cost that is real shows in every round you add and at every higher level.`,
      ),
    );
  const secs = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
  const t = how.target;
  if (t && t.reached) lines.push(chalk.green(`Every throughput ratio is within ±${pct(t.ci)} at 95% after ${how.rounds} rounds (${secs(how.elapsedMs)}).`));
  else if (t)
    lines.push(
      chalk.yellow(
        `Inconclusive: after ${how.rounds} rounds (${secs(how.elapsedMs)} of the ${secs(t.budgetMs)} budget) the widest throughput CI is ±${pct(how.widestCi)}, not the ±${pct(t.ci)} asked for; a difference smaller than that cannot be told from noise here. Give it more time (--max-duration) or a quieter machine.`,
      ),
    );
  else if (how.widestCi > 0.05)
    lines.push(
      chalk.yellow(
        `${how.rounds} rounds leave throughput CIs as wide as ±${pct(how.widestCi)}: a difference smaller than that cannot be told from noise. --target-ci PCT adds rounds until the CIs are narrow enough.`,
      ),
    );
  return lines.join('\n');
}

/** Bench's whole terminal report: the summary, per server, per stage and the level comparison, each when the run has it. */
export function formatBench(
  r: Pick<BenchResult, 'metrics' | 'target' | 'workload' | 'targets' | 'stages' | 'levels' | 'comparison' | 'expectedHitRate'>,
): string {
  let out = formatBenchMetrics(r.metrics, r.target, r.workload) + '\n';
  if (r.expectedHitRate !== undefined) {
    const got = r.metrics.cache_hit_rate;
    const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
    out += `Prefix cache: the conversations allow a hit rate of ${pct(r.expectedHitRate)} (every answer kept); ${got === null ? 'the target did not report cached tokens' : `the run got ${pct(got)}`}.\n`;
  }
  if (r.targets) out += '\nPer server\n' + formatTargets(r.targets) + '\n';
  if (r.stages) out += '\nPer-stage breakdown (from the tracing layer)\n' + formatStageTable(r.stages) + '\n';
  if (r.levels && r.comparison) out += '\nTrace level comparison\n' + formatLevelComparison(r.levels, r.comparison) + '\n';
  return out;
}
