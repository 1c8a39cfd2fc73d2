import type { FinishedRequest } from '../tracing/finished_request.js';
import { COLORS, esc, htmlPage } from './html_kit.js';
import { summarizeStages } from '../tracing/stage_summary.js';
import { formatStageTable } from './stage_table.js';
import { stageRows } from '../tracing/stage_rows.js';


/**
 * A self-contained page for a capture: a timeline with one row per request
 * (its stages as coloured bars on the capture's time axis; the mouse wheel
 * zooms, dragging pans) and the per-stage summary table. Nothing is fetched.
 */
export function traceViewHtml(title: string, requests: readonly FinishedRequest[]): string {
  const sorted = [...requests].sort((a, b) => a.start - b.start);
  const t0 = Math.min(...sorted.map((r) => r.start));
  const t1 = Math.max(...sorted.map((r) => r.end));
  const span = Math.max(1e-6, t1 - t0);
  const W = 1000;
  const ROW = 18;
  const LABEL = 160;
  const colors = new Map<string, string>();
  const color = (stage: string): string => {
    if (!colors.has(stage)) colors.set(stage, COLORS[colors.size % COLORS.length]);
    return colors.get(stage)!;
  };
  const x = (ms: number): number => LABEL + ((W - LABEL) * (ms - t0)) / span;
  const rows = sorted.map((r, i) => {
    const y = i * ROW;
    // Top-level stages only, so nested slices do not hide their parents.
    const bars = stageRows(r).filter((row) => row.depth === 0).flatMap((row) => {
      const out: string[] = [];
      for (let k = 0; k < row.intervals.length; k += 2) {
        const a = x(r.start + row.intervals[k]);
        const b = x(r.start + row.intervals[k + 1]);
        out.push(`<rect x="${a.toFixed(2)}" y="${y + 2}" width="${Math.max(0.3, b - a).toFixed(2)}" height="${ROW - 4}" fill="${color(row.stage)}"><title>${esc(row.stage)} ${(row.intervals[k + 1] - row.intervals[k]).toFixed(3)} ms</title></rect>`);
      }
      return out;
    });
    return `<g class="request" data-rid="${esc(r.rid)}"><text x="4" y="${y + 13}">${esc(r.rid.slice(0, 22))}</text>${bars.join('')}</g>`;
  });
  const height = sorted.length * ROW + 20;
  const legend = [...colors.entries()].map(([s, c]) => `<span style="display:inline-block;margin-right:12px"><span style="display:inline-block;width:10px;height:10px;background:${c}"></span> ${esc(s)}</span>`).join('');
  const timeline = `<figure><figcaption>Requests over time (${span.toFixed(1)} ms; wheel to zoom, drag to pan)</figcaption><div>${legend}</div>
<svg id="timeline" viewBox="0 0 ${W} ${height}" width="100%" style="border:1px solid #ddd;cursor:grab">${rows.join('')}</svg></figure>
<script>
(() => {
  const svg = document.getElementById('timeline');
  const [, , fullW, h] = svg.getAttribute('viewBox').split(' ').map(Number);
  let x0 = 0, w = fullW, drag = null;
  const apply = () => svg.setAttribute('viewBox', x0 + ' 0 ' + w + ' ' + h);
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const px = x0 + (e.offsetX / svg.clientWidth) * w;
    w = Math.min(fullW, Math.max(fullW / 1000, w * (e.deltaY > 0 ? 1.25 : 0.8)));
    x0 = Math.min(Math.max(0, px - (e.offsetX / svg.clientWidth) * w), fullW - w);
    apply();
  }, { passive: false });
  svg.addEventListener('mousedown', (e) => { drag = { x: e.clientX, x0 }; });
  window.addEventListener('mouseup', () => { drag = null; });
  window.addEventListener('mousemove', (e) => {
    if (!drag) return;
    x0 = Math.min(Math.max(0, drag.x0 - ((e.clientX - drag.x) / svg.clientWidth) * w), fullW - w);
    apply();
  });
})();
</script>`;
  const table = `<figure><figcaption>Stages</figcaption><pre>${esc(formatStageTable(summarizeStages(requests)))}</pre></figure>`;
  return htmlPage(title, [['Requests', String(requests.length)], ['Time span (ms)', span.toFixed(1)]], [timeline, table]);
}
