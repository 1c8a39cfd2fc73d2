import type { FinishedRequest } from '../tracing/finished_request.js';
import { slices } from '../tracing/records.js';
import { STAGES } from '../tracing/stages.js';
import { StageSummarizer } from '../analysis/stage_summary.js';
import { COLORS, esc, htmlPage } from './html_kit.js';
import { formatStageTable } from './stage_table.js';
import { clientScript } from './trace_view_client.js';
import type { ViewRow } from './trace_view_draw.js';

/** Microseconds, whole: the page draws to the pixel, and small integers keep its data compact. */
const us = (ms: number): number => Math.round(ms * 1000);

/**
 * A self-contained page for a capture: a timeline with one row per request
 * (its main-thread and worker stages in two lanes), a labelled time axis
 * that zooms and pans (wheel, drag, keys) while the label column stays put,
 * details on hover, and the per-stage summary table. The data goes in once
 * as compact JSON and a script draws only the rows in view on a canvas, so
 * the page stays smooth at tens of thousands of requests. Nothing is
 * fetched. Requests are added one at a time as a capture streams.
 */
export class TraceView {
  /** `order` sorts rows (by the request's start); a merged request's server rows sort with its client row, just under it. */
  private readonly rows: { start: number; order: number; row: ViewRow }[] = [];
  private readonly stages = new StageSummarizer();
  private readonly seen = new Set<number>();

  add(req: FinishedRequest): void {
    this.count++;
    this.stages.add(req);
    this.addRow(req, req.rid, req.start);
    // A merged capture: each server's side of the request is a row of its own (main and worker lanes) under the client's.
    for (const part of req.remote ?? []) this.addRow(part, `${req.rid} (server ${part.rid})`, req.start);
  }

  private addRow(req: FinishedRequest, label: string, order: number): void {
    const lane = (records: Float64Array): number[] => {
      const out: number[] = [];
      let prev = 0;
      // Top-level slices only: nested ones lie inside them and would hide their parents.
      const top = slices(records, req.spanStages)
        .filter((s) => s.depth === 0)
        .sort((a, b) => a.start - b.start);
      for (const s of top) {
        this.seen.add(s.id);
        // Deltas of rounded offsets, so that their sums are exact: rounding each delta would drift along a long request.
        const start = us(s.start - req.start);
        out.push(s.id, start - prev, us(s.end - req.start) - start);
        prev = start;
      }
      return out;
    };
    this.rows.push({ start: req.start, order, row: [label, 0, us(req.end - req.start), lane(req.main), lane(req.worker), req.error ? 1 : 0] });
  }

  /** Requests added (a merged request counts once, however many rows it takes). */
  count = 0;

  html(title: string): string {
    this.rows.sort((a, b) => a.order - b.order);
    const t0 = this.rows.reduce((t, r) => Math.min(t, r.start), this.rows.length ? Infinity : 0);
    let t1 = t0;
    for (const r of this.rows) {
      r.row[1] = us(r.start - t0);
      t1 = Math.max(t1, r.start + r.row[2] / 1000);
    }
    const span = t1 - t0;
    const stageInfo = STAGES.map((s) => ({ name: s.name, thread: s.thread, color: COLORS[s.id % COLORS.length] }));
    const data = JSON.stringify({ stages: stageInfo.map((s) => [s.name, s.color]), rows: this.rows.map((r) => r.row) }).replace(/</g, '\\u003c');
    const legend = [...this.seen]
      .sort((a, b) => a - b)
      .map(
        (id) => `<span class="key"><i style="background:${stageInfo[id].color}"></i>${esc(stageInfo[id].name)} <small>(${stageInfo[id].thread})</small></span>`,
      )
      .join('');
    const timeline = `<figure><figcaption>Requests over time: ${span.toFixed(1)} ms, ${this.count} requests</figcaption>
<p class="help">Each row is a request: main thread above, scheduler worker below. Wheel or <kbd>W</kbd>/<kbd>S</kbd> zoom the time axis; drag or <kbd>A</kbd>/<kbd>D</kbd>/<kbd>←</kbd>/<kbd>→</kbd> pan; <kbd>Shift</kbd>+wheel, <kbd>↑</kbd>/<kbd>↓</kbd> and the scroll bar move through requests; <kbd>0</kbd> shows everything. Hover a bar for its details; double-click a request to fit it.</p>
<div class="legend">${legend}</div>
<div id="timeline" tabindex="0"><canvas id="canvas"></canvas><div id="spacer"></div><div id="tip" hidden></div></div></figure>
<script type="application/json" id="data">${data}</script>
<script>${clientScript()}</script>`;
    const table = `<figure><figcaption>Stages</figcaption><pre>${esc(formatStageTable(this.stages.result()))}</pre></figure>`;
    return htmlPage(
      title,
      [
        ['Requests', String(this.count)],
        ['Time span (ms)', span.toFixed(1)],
      ],
      [VIEW_STYLE, timeline, table],
    );
  }
}

/** A page for requests already in memory (see TraceView). */
export function traceViewHtml(title: string, requests: Iterable<FinishedRequest>): string {
  const view = new TraceView();
  for (const r of requests) view.add(r);
  return view.html(title);
}

const VIEW_STYLE = `<style>
#timeline{position:relative;height:75vh;min-height:320px;overflow-y:auto;overflow-x:hidden;border:1px solid #ddd;outline:none;cursor:grab}
#timeline:focus{border-color:#2563eb}
#canvas{position:sticky;top:0;left:0;display:block}
#tip{position:absolute;pointer-events:none;background:#111;color:#fff;font:12px system-ui,sans-serif;padding:4px 8px;border-radius:4px;white-space:pre;z-index:2}
.legend{margin:.3em 0 .6em}.key{display:inline-block;margin-right:14px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
.help{color:#555;margin:.2em 0}kbd{border:1px solid #ccc;border-radius:3px;padding:0 3px;font-size:11px}
</style>`;
