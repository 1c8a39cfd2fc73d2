import type { FinishedRequest } from '../tracing/finished_request.js';
import { slices } from '../tracing/records.js';
import { STAGES } from '../tracing/stages.js';
import { StageSummarizer } from '../analysis/stage_summary.js';
import { COLORS, esc, htmlPage } from './html_kit.js';
import { formatStageTable } from './stage_table.js';

/**
 * One request on the page, compact: its id, start and end in whole
 * microseconds from the capture's first request, and per thread its
 * top-level slices as a flat list of (stage id, start after the previous
 * slice's start, duration), all whole microseconds.
 */
type ViewRow = [rid: string, start: number, end: number, main: number[], worker: number[], error: 0 | 1];

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
<script>${VIEW_SCRIPT}</script>`;
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

/** The page's drawing and interaction, vanilla and inline (nothing is fetched). */
const VIEW_SCRIPT = String.raw`
(() => {
  const D = JSON.parse(document.getElementById('data').textContent);
  const rows = D.rows, N = rows.length, stages = D.stages;
  const box = document.getElementById('timeline'), canvas = document.getElementById('canvas'), spacer = document.getElementById('spacer'), tip = document.getElementById('tip');
  const ctx = canvas.getContext('2d');
  const ROW = 22, LANE = 9, LABEL = 190, AXIS = 30;
  let total = 1;
  for (const r of rows) total = Math.max(total, r[1] + r[2]);
  total /= 1000;
  let x0 = 0, x1 = total, W = 0, H = 0;
  // Each lane's slices once decoded to absolute ms: [stage, start, end, ...].
  const decoded = new Map();
  function lanes(i) {
    let d = decoded.get(i);
    if (d) return d;
    const r = rows[i];
    d = [r[3], r[4]].map((flat) => {
      const out = new Float64Array(flat.length);
      let t = r[1];
      for (let k = 0; k < flat.length; k += 3) { t += flat[k + 1]; out[k] = flat[k]; out[k + 1] = t / 1000; out[k + 2] = (t + flat[k + 2]) / 1000; }
      return out;
    });
    if (decoded.size > 4000) decoded.clear();
    decoded.set(i, d);
    return d;
  }
  const px = (ms) => LABEL + ((ms - x0) / (x1 - x0)) * (W - LABEL);
  const ms = (x) => x0 + ((x - LABEL) / (W - LABEL)) * (x1 - x0);
  // A time to the precision a step of step ms needs: seconds past 1 s, else ms, else µs.
  function unit(v, step) {
    const a = Math.abs(step), digits = (d) => Math.min(6, Math.max(0, Math.ceil(-Math.log10(d) - 1e-9)));
    if (Math.abs(v) >= 1000 && a >= 0.001) return (v / 1000).toFixed(digits(a / 1000)) + ' s';
    if (a >= 0.001 || v === 0) return v.toFixed(digits(a)) + ' ms';
    return (v * 1000).toFixed(digits(a * 1000)) + ' µs';
  }
  function niceStep(range, count) {
    const raw = range / count, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  const state = { ticks: [], bars: 0, get range() { return [x0, x1]; }, rows: N };
  window.sglView = state;
  function resize() {
    const dpr = window.devicePixelRatio || 1;
    W = box.clientWidth; H = box.clientHeight;
    canvas.width = W * dpr; canvas.height = H * dpr;
    canvas.style.width = W + 'px'; canvas.style.height = H + 'px';
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    spacer.style.height = Math.max(0, AXIS + N * ROW - H) + 'px';
    draw();
  }
  function draw() {
    const top = box.scrollTop;
    ctx.clearRect(0, 0, W, H);
    ctx.font = '12px system-ui, sans-serif';
    const first = Math.max(0, Math.floor(top / ROW)), last = Math.min(N - 1, Math.floor((top + H - AXIS) / ROW));
    const step = niceStep(x1 - x0, Math.max(2, (W - LABEL) / 110));
    ctx.strokeStyle = '#eee';
    ctx.beginPath();
    for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) { const x = Math.round(px(t)) + 0.5; ctx.moveTo(x, AXIS); ctx.lineTo(x, H); }
    ctx.stroke();
    let bars = 0;
    for (let i = first; i <= last; i++) {
      const y = AXIS + i * ROW - top;
      if (i % 2) { ctx.fillStyle = '#fafafa'; ctx.fillRect(LABEL, y, W - LABEL, ROW); }
      const [main, worker] = lanes(i);
      [main, worker].forEach((lane, l) => {
        const ly = y + 2 + l * (LANE + 1);
        let lastX = -1, lastStage = -1;
        for (let k = 0; k < lane.length; k += 3) {
          if (lane[k + 2] < x0 || lane[k + 1] > x1) continue;
          const a = Math.max(LABEL, px(lane[k + 1])), b = Math.min(W, px(lane[k + 2]));
          // Slices thinner than a pixel that land on one already drawn in that colour add nothing.
          if (b - a < 1 && Math.floor(a) === lastX && lane[k] === lastStage) continue;
          ctx.fillStyle = stages[lane[k]][1];
          ctx.fillRect(a, ly, Math.max(1, b - a), LANE);
          lastX = Math.floor(a); lastStage = lane[k]; bars++;
        }
      });
      if (rows[i][5]) { ctx.strokeStyle = '#dc2626'; ctx.strokeRect(LABEL + 0.5, y + 0.5, W - LABEL - 1, ROW - 1); }
    }
    // The label column and the axis are drawn last, over the bars: they never move with zoom or pan.
    ctx.fillStyle = '#fff'; ctx.fillRect(0, AXIS, LABEL, H);
    ctx.fillStyle = '#111'; ctx.textBaseline = 'middle'; ctx.textAlign = 'left';
    for (let i = first; i <= last; i++) {
      const rid = rows[i][0];
      ctx.fillText(rid.length > 26 ? rid.slice(0, 25) + '…' : rid, 6, AXIS + i * ROW - top + ROW / 2);
    }
    ctx.strokeStyle = '#ccc'; ctx.beginPath(); ctx.moveTo(LABEL - 0.5, AXIS); ctx.lineTo(LABEL - 0.5, H); ctx.stroke();
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, AXIS);
    ctx.strokeStyle = '#999'; ctx.beginPath(); ctx.moveTo(LABEL, AXIS - 0.5); ctx.lineTo(W, AXIS - 0.5);
    ctx.fillStyle = '#333'; ctx.textAlign = 'center'; ctx.textBaseline = 'alphabetic';
    state.ticks = [];
    for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
      const x = Math.round(px(t)) + 0.5;
      ctx.moveTo(x, AXIS - 6); ctx.lineTo(x, AXIS);
      const label = unit(t, step);
      if (x > LABEL + 20 && x < W - 20) { ctx.fillText(label, x, AXIS - 10); state.ticks.push(label); }
    }
    ctx.stroke();
    ctx.textAlign = 'left'; ctx.fillStyle = '#555';
    ctx.fillText(N + ' requests', 6, AXIS - 10);
    state.bars = bars;
    // A tip on screen follows what is now under the pointer.
    if (lastPointer && !tip.hidden) hover(lastPointer);
  }
  let lastPointer = null;
  let pending = false;
  const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } };
  function zoom(factor, atMs) {
    const minSpan = 0.001;
    const span = Math.min(total, Math.max(minSpan, (x1 - x0) * factor));
    const f = (atMs - x0) / (x1 - x0);
    x0 = atMs - f * span; x1 = x0 + span;
    pan(0);
  }
  function pan(deltaMs) {
    const span = x1 - x0;
    x0 = Math.min(Math.max(0, x0 + deltaMs), Math.max(0, total - span)); x1 = x0 + span;
    redraw();
  }
  box.addEventListener('wheel', (e) => {
    if (e.shiftKey) return; // Shift+wheel scrolls the requests, as the scroll bar does.
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    const x = Math.max(LABEL, e.clientX - r.left);
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) pan((e.deltaX / (W - LABEL)) * (x1 - x0));
    else zoom(Math.pow(1.0015, e.deltaY), ms(x));
  }, { passive: false });
  box.addEventListener('scroll', redraw);
  let drag = null;
  box.addEventListener('mousedown', (e) => { drag = { x: e.clientX, y: e.clientY, x0, top: box.scrollTop }; box.style.cursor = 'grabbing'; box.focus({ preventScroll: true }); });
  window.addEventListener('mouseup', () => { drag = null; box.style.cursor = ''; });
  window.addEventListener('mousemove', (e) => {
    if (drag) {
      const span = x1 - x0;
      x0 = drag.x0; x1 = x0 + span;
      pan(-((e.clientX - drag.x) / (W - LABEL)) * span);
      box.scrollTop = drag.top - (e.clientY - drag.y);
      tip.hidden = true;
      return;
    }
    hover(e);
  });
  box.addEventListener('mouseleave', () => { tip.hidden = true; });
  // A double click on a row fits the time axis to that request.
  box.addEventListener('dblclick', (e) => {
    const r = canvas.getBoundingClientRect();
    const i = Math.floor((e.clientY - r.top - AXIS + box.scrollTop) / ROW);
    if (i < 0 || i >= N) return;
    const a = rows[i][1] / 1000, len = Math.max(0.01, rows[i][2] / 1000);
    x0 = Math.max(0, a - len * 0.05); x1 = Math.min(total, x0 + len * 1.1);
    redraw();
  });
  box.addEventListener('keydown', (e) => {
    const span = x1 - x0, mid = (x0 + x1) / 2;
    const keys = {
      w: () => zoom(0.8, mid), '+': () => zoom(0.8, mid), '=': () => zoom(0.8, mid),
      s: () => zoom(1.25, mid), '-': () => zoom(1.25, mid),
      a: () => pan(-span * 0.2), ArrowLeft: () => pan(-span * 0.2),
      d: () => pan(span * 0.2), ArrowRight: () => pan(span * 0.2),
      ArrowUp: () => { box.scrollTop -= ROW; }, ArrowDown: () => { box.scrollTop += ROW; },
      PageUp: () => { box.scrollTop -= H - AXIS; }, PageDown: () => { box.scrollTop += H - AXIS; },
      '0': () => { x0 = 0; x1 = total; redraw(); }, Home: () => { x0 = 0; x1 = total; redraw(); },
    };
    const act = keys[e.key] || keys[e.key.toLowerCase()];
    if (act) { e.preventDefault(); act(); }
  });
  function hover(e) {
    lastPointer = { clientX: e.clientX, clientY: e.clientY };
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (x < 0 || y < AXIS || x > W || y > H) { tip.hidden = true; return; }
    const i = Math.floor((y - AXIS + box.scrollTop) / ROW);
    if (i < 0 || i >= N) { tip.hidden = true; return; }
    const row = rows[i];
    let text = row[0] + '\n' + unit(row[2] / 1000, 0.01) + ' end to end, from ' + unit(row[1] / 1000, 0.01) + (row[5] ? '\nfailed' : '');
    if (x >= LABEL) {
      const off = y - AXIS + box.scrollTop - i * ROW - 2;
      const l = off < LANE + 1 ? 0 : 1;
      const lane = lanes(i)[l], t = ms(x), slack = (x1 - x0) / (W - LABEL) * 2;
      for (let k = 0; k < lane.length; k += 3) {
        if (t >= lane[k + 1] - slack && t <= lane[k + 2] + slack) {
          text = stages[lane[k]][0] + ' (' + (l ? 'worker' : 'main') + ')\n' + unit(lane[k + 2] - lane[k + 1], 0.1) + ' at +' + unit(lane[k + 1] - row[1] / 1000, 0.1) + '\n' + row[0];
          break;
        }
      }
    }
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = Math.min(x + 14, W - 260) + 'px';
    tip.style.top = (y + box.scrollTop + 14) + 'px';
  }
  new ResizeObserver(resize).observe(box);
  resize();
})();
`;
