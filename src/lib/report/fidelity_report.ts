import chalk from 'chalk';
import { compactTable } from './compact_table.js';
import { beyondTolerance } from '../replay/fidelity.js';
import type { FidelityReport, FidelityRow } from '../replay/fidelity.js';
import { printable } from './terminal_text.js';

const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '-');
const pct = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
export const pValue = (p: number): string => (p < 0.001 ? 'p<0.001' : `p=${p.toFixed(3)}`);

/** A two-sample row's verdict in words. */
function verdict(r: FidelityRow, label: string): string {
  if (r.significant === null || r.p === null) return chalk.dim('too few samples to tell');
  if (!r.significant) return `no significant difference (${pValue(r.p)})`;
  return `${label} ${r.p50Drift >= 0 ? 'higher' : 'lower'}, significant (${pValue(r.p)})`;
}

/** Captured against replayed, stage by stage, and the requests that drifted most. */
export function formatFidelity(report: FidelityReport, replayedLabel: string, tolerance: number | null, capturedLabel = 'captured', floorMs?: number): string {
  const table = compactTable(['ms', `${capturedLabel} n`, 'p50', 'p90', 'p99', `${replayedLabel} n`, 'p50', 'p90', 'p99', 'p50 drift', 'verdict at 95%']);
  const failing = new Set(tolerance === null ? [] : beyondTolerance(report, tolerance, floorMs));
  for (const r of report.rows) {
    const drift = pct(r.p50Drift);
    const flagged = failing.has(r);
    // A predicted figure carries its band: "12.300 (10.1–15.2)".
    const pred = (k: 'p50' | 'p90' | 'p99'): string =>
      r.band ? `${f(r.replayed[k])} ${chalk.dim(`(${r.band.low[k].toFixed(1)}–${r.band.high[k].toFixed(1)})`)}` : f(r.replayed[k]);
    table.push([
      r.name,
      r.captured.count,
      f(r.captured.p50),
      f(r.captured.p90),
      f(r.captured.p99),
      r.replayed.count,
      pred('p50'),
      pred('p90'),
      pred('p99'),
      flagged ? chalk.red(drift) : drift,
      verdict(r, replayedLabel),
    ]);
  }
  const drifted = report.drifted.length
    ? '\nMost drifted requests (E2E):\n' +
      report.drifted.map((d) => `  ${printable(d.id)}  ${d.capturedMs.toFixed(1)} ms → ${d.replayedMs.toFixed(1)} ms (${pct(d.drift)})`).join('\n')
    : '';
  const banded = report.rows.some((r) => r.band);
  const note = chalk.dim(
    `Verdicts: Mann-Whitney U test on the per-request values; p is the chance that noise alone makes a difference this large.${banded ? `\nIn brackets: the ${replayedLabel} figure with every prefill and decode step at the 2.5th and 97.5th percentile of its fit's residuals.` : ''}`,
  );
  return `${table.toString()}\n${note}${drifted}`;
}

/** The replay report as a self-contained page, in bench's style: the fidelity table and E2E/TTFT CDFs. */
export async function fidelityHtml(
  title: string,
  report: FidelityReport,
  captured: { e2e: number[]; ttft: number[] },
  replayed: { e2e: number[]; ttft: number[] },
  label: string,
): Promise<string> {
  const { cdfFigure, htmlPage } = await import('./html_kit.js');
  const table: [string, string][] = report.rows.map((r) => [
    r.name,
    `p50 ${f(r.captured.p50)} → ${f(r.replayed.p50)} ms (${pct(r.p50Drift)}), p99 ${f(r.captured.p99)} → ${f(r.replayed.p99)} ms`,
  ]);
  return htmlPage(title, table, [
    cdfFigure('E2E latency CDF (ms)', [
      { name: 'captured', values: captured.e2e },
      { name: label, values: replayed.e2e },
    ]),
    cdfFigure('TTFT CDF (ms)', [
      { name: 'captured', values: captured.ttft },
      { name: label, values: replayed.ttft },
    ]),
  ]);
}
