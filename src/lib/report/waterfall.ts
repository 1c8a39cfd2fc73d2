import chalk from 'chalk';
import type { ChalkInstance } from 'chalk';
import type { FinishedRequest } from '../tracing/finished_request.js';
import { EVENTS } from '../tracing/stages.js';
import { events } from '../tracing/records.js';
import { nestedRows } from '../analysis/stage_rows.js';
import { printable } from './terminal_text.js';

const PALETTE: ChalkInstance[] = [
  chalk.cyan,
  chalk.yellow,
  chalk.magenta,
  chalk.green,
  chalk.blue,
  chalk.red,
  chalk.cyanBright,
  chalk.yellowBright,
  chalk.magentaBright,
  chalk.greenBright,
  chalk.blueBright,
  chalk.redBright,
  chalk.white,
];
const colors = new Map<string, ChalkInstance>();
function colorOf(stage: string): ChalkInstance {
  let c = colors.get(stage);
  if (!c) {
    c = PALETTE[colors.size % PALETTE.length];
    colors.set(stage, c);
  }
  return c;
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/**
 * A request's stages as a terminal waterfall: one row per stage, its bar
 * marking where on the request's timeline the stage ran (scaled to the
 * end-to-end time), with its slice count and total time.
 */
export function formatWaterfall(req: FinishedRequest, width = 48): string {
  const e2e = req.end - req.start;
  // A merged request: the client's rows, then each server's, on the client's timeline.
  const sides = [req, ...(req.remote ?? [])];
  const rows = sides.flatMap((side) =>
    nestedRows(side).map((r) => ({
      ...r,
      intervals: r.intervals.map((t) => t + side.start - req.start),
      where: side.client ? 'client' : r.thread === 'main' ? (side === req ? 'main' : 'server') : 'worker',
    })),
  );
  const w = req.workload;
  // TTFT and E2E to a tenth of a millisecond, as the generation summary above prints them.
  const head =
    `request ${printable(req.rid)}  ${w.inputTokens} prompt + ${w.outputTokens} output tokens, ${w.finishReason}, e2e ${e2e.toFixed(1)} ms` +
    (w.ttftMs === null ? '' : `, ttft ${w.ttftMs.toFixed(1)} ms`);
  const nameWidth = Math.max(12, ...rows.map((r) => r.stage.length + r.depth * 2));
  const lines = [chalk.bold(head)];
  for (const r of rows) {
    const cells = new Array<boolean>(width).fill(false);
    for (let k = 0; k < r.intervals.length; k += 2) {
      const from = Math.max(0, Math.min(width - 1, Math.floor((r.intervals[k] / e2e) * width)));
      const to = Math.min(width, Math.max(from + 1, Math.ceil((r.intervals[k + 1] / e2e) * width)));
      for (let c = from; c < to; c++) cells[c] = true;
    }
    const bar = colorOf(r.stage)(cells.map((on) => (on ? '█' : ' ')).join(''));
    const count = r.intervals.length / 2;
    const name = `${'  '.repeat(r.depth)}${r.stage}`.padEnd(nameWidth);
    lines.push(`  ${name} ${chalk.dim(r.where.padEnd(6))} │${bar}│ ${ms(r.totalMs).padStart(7)} ms${count > 1 ? chalk.dim(` ×${count}`) : ''}`);
  }
  // Batch events (a request scheduled into a batch, a batch re-formed) as marks on the same axis.
  const marks = new Array<string>(width).fill(' ');
  let batchEvents = 0;
  for (const records of sides.flatMap((side) => [side.main, side.worker])) {
    for (const e of events(records, req.spanEvents)) {
      const name = EVENTS[e.id]?.name;
      if (name !== 'schedule' && name !== 'batch_formed') continue;
      marks[Math.min(width - 1, Math.floor(((e.t - req.start) / e2e) * width))] = '▲';
      batchEvents++;
    }
  }
  if (batchEvents) lines.push(`  ${'batch events'.padEnd(nameWidth)} ${chalk.dim('worker')} │${marks.join('')}│ ${chalk.dim(`×${batchEvents}`)}`);
  return lines.join('\n');
}
