import type { BenchResult } from '../benchmark/run_bench.js';
import type { LevelRow } from '../benchmark/compare_levels.js';
import type { RequestOutcome } from '../target/driver.js';
import type { BenchMetrics } from '../benchmark/statistics.js';
import type { StageSummary } from '../analysis/stage_summary.js';
import { bars, cdfFigure, htmlPage } from './html_kit.js';

export interface BenchHtmlInput {
  title: string;
  target: string;
  workload: string;
  metrics: BenchMetrics;
  /** Latency CDFs: one series per run or per level. */
  series: { name: string; outcomes: RequestOutcome[] }[];
  levels?: LevelRow[];
  stages?: StageSummary[];
}

/** A self-contained report page: inline styles and SVG, nothing fetched. */
export function benchHtml(input: BenchHtmlInput): string {
  const m = input.metrics;
  const figures = [
    cdfFigure(
      'E2E latency CDF (ms)',
      input.series.map((s) => ({ name: s.name, values: s.outcomes.filter((o) => !o.error).map((o) => o.e2eMs) })),
    ),
    cdfFigure(
      'TTFT CDF (ms)',
      input.series.map((s) => ({ name: s.name, values: s.outcomes.flatMap((o) => (o.ttftMs === null ? [] : [o.ttftMs])) })),
    ),
  ];
  if (input.levels) {
    figures.push(
      bars(
        'Output throughput per trace level',
        input.levels.map((l) => ({ label: `level ${l.level}`, value: l.outputThroughput.mean, err: l.outputThroughput.ci95 })),
        'tok/s',
      ),
    );
    figures.push(
      bars(
        'E2E latency per trace level, ratio to level 0',
        input.levels.map((l) => ({ label: `level ${l.level}`, value: l.e2eRatio.mean, err: l.e2eRatio.ci95 })),
        'x',
      ),
    );
  }
  if (input.stages?.length)
    figures.push(
      bars(
        'Per-stage time per request (mean)',
        input.stages.map((s) => ({ label: s.stage, value: s.meanMs })),
        'ms',
      ),
    );
  const table: [string, string][] = [
    ['Target', input.target],
    ['Workload', input.workload],
    ['Successful / failed', `${m.completed} / ${m.failed}`],
    ['Duration (s)', m.duration_s.toFixed(2)],
    ['Request throughput (req/s)', m.request_throughput.toFixed(2)],
    ['Output token throughput (tok/s)', m.output_throughput.toFixed(2)],
    ['Mean / p99 TTFT (ms)', `${m.ttft_ms.mean.toFixed(2)} / ${m.ttft_ms.p99.toFixed(2)}`],
    ['Mean / p99 TPOT (ms)', `${m.tpot_ms.mean.toFixed(2)} / ${m.tpot_ms.p99.toFixed(2)}`],
    ['Mean / p99 E2E (ms)', `${m.e2e_latency_ms.mean.toFixed(2)} / ${m.e2e_latency_ms.p99.toFixed(2)}`],
  ];
  if (m.warmup) table.push(['Warm-up requests (not measured)', String(m.warmup)]);
  for (const k of m.failures) table.push([`Failed: ${k.kind}`, `${k.count} (e.g. ${k.example.slice(0, 300)})`]);
  return htmlPage(input.title, table, figures);
}

/** Bench's page for a result: the CDFs show the first run (with --compare-trace-levels, the first level's first repeat). */
export function benchResultHtml(result: BenchResult): string {
  const series = [{ name: result.levels ? `level ${result.levels[0].level}` : 'run', outcomes: result.outcomes }];
  const { target, workload, metrics } = result;
  return benchHtml({ title: 'sgl bench', target, workload, metrics, series, levels: result.levels ?? undefined, stages: result.stages ?? undefined });
}
