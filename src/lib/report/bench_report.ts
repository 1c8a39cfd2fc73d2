import chalk from 'chalk';
import { compactTable } from './compact_table.js';
import type { LevelRow } from '../bench/compare_levels.js';
import type { BenchMetrics } from '../bench/statistics.js';
import type { Distribution } from '../stats/distribution.js';

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
  for (const [reason, n] of Object.entries(m.errors)) summary.push([chalk.red(`Failure: ${reason}`), String(n)]);
  const latency = compactTable(['ms', 'mean', 'median', 'std', 'p90', 'p95', 'p99']);
  const row = (name: string, d: Distribution): void => void latency.push([name, f(d.mean), f(d.median), f(d.std), f(d.p90), f(d.p95), f(d.p99)]);
  row('TTFT', m.ttft_ms);
  row('TPOT', m.tpot_ms);
  row('ITL', m.itl_ms);
  row('E2E', m.e2e_latency_ms);
  return `${summary.toString()}\n${latency.toString()}`;
}

const ratio = (r: { mean: number; ci95: number }): string => `${f(r.mean, 3)}x ± ${f(r.ci95, 3)}`;

/** One row per trace level: throughput and latencies as ratios to level 0 with 95% CIs. */
export function formatLevelComparison(rows: readonly LevelRow[]): string {
  const table = compactTable(['level', 'output tok/s', 'throughput vs 0', 'TTFT vs 0', 'TPOT vs 0', 'E2E vs 0', 'spans/request']);
  for (const r of rows) {
    table.push([String(r.level), `${f(r.outputThroughput.mean, 1)} ± ${f(r.outputThroughput.ci95, 1)}`, ratio(r.throughputRatio), ratio(r.ttftRatio), ratio(r.tpotRatio), ratio(r.e2eRatio), r.spansPerRequest === null ? '-' : f(r.spansPerRequest, 1)]);
  }
  return `${table.toString()}\n${chalk.dim('Ratios are per repeat against level 0, then mean ± 95% confidence interval.')}`;
}
