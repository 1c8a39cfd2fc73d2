/// <reference lib="dom" />
// Drawing for the trace view page (browser code, embedded by clientScript in
// trace_view_client.ts). Every function here is self-contained: the page
// gets each one's compiled source, so none may use an import or a module
// variable, only its arguments and the other functions the page embeds.
/**
 * One request on the page, compact: its id, start and end in whole
 * microseconds from the capture's first request, and per thread its
 * top-level slices as a flat list of (stage id, start after the previous
 * slice's start, duration), all whole microseconds.
 */
export type ViewRow = [rid: string, start: number, end: number, main: number[], worker: number[], error: 0 | 1];

/** The timeline's data, canvas and view window: everything drawing reads, shared with the event handlers. */
export interface Timeline {
  rows: ViewRow[];
  /** Per stage id: its name and colour. */
  stages: [name: string, color: string][];
  box: HTMLDivElement;
  ctx: CanvasRenderingContext2D;
  /** The time window in view, ms from the first request. */
  x0: number;
  x1: number;
  /** The capture's whole span, ms. */
  total: number;
  /** The canvas size in CSS pixels. */
  W: number;
  H: number;
  /** Each row's lanes once decoded (laneSlices). */
  decoded: Map<number, Float64Array[]>;
  /** What tests read back (`window.sglView`). */
  state: { ticks: string[]; bars: number; readonly range: [number, number]; rows: number };
}

/** Pixel sizes of the layout: a row, a lane in it, the label column, the axis. */
export const LAYOUT = { ROW: 22, LANE: 9, LABEL: 190, AXIS: 30 };

/** A row's two lanes (main, worker) as absolute ms: [stage, start, end, ...], decoded once and kept for the rows drawn recently. */
export function laneSlices(v: Timeline, i: number): Float64Array[] {
  let d = v.decoded.get(i);
  if (d) return d;
  const r = v.rows[i];
  d = [r[3], r[4]].map((flat) => {
    const out = new Float64Array(flat.length);
    let t = r[1];
    for (let k = 0; k < flat.length; k += 3) {
      t += flat[k + 1];
      out[k] = flat[k];
      out[k + 1] = t / 1000;
      out[k + 2] = (t + flat[k + 2]) / 1000;
    }
    return out;
  });
  if (v.decoded.size > 4000) v.decoded.clear();
  v.decoded.set(i, d);
  return d;
}

/** A time to the precision a step of `step` ms needs: seconds past 1 s, else ms, else µs. */
export function unit(value: number, step: number): string {
  const a = Math.abs(step);
  const digits = (d: number): number => Math.min(6, Math.max(0, Math.ceil(-Math.log10(d) - 1e-9)));
  if (Math.abs(value) >= 1000 && a >= 0.001) return (value / 1000).toFixed(digits(a / 1000)) + ' s';
  if (a >= 0.001 || value === 0) return value.toFixed(digits(a)) + ' ms';
  return (value * 1000).toFixed(digits(a * 1000)) + ' µs';
}

/** A round tick step (1, 2 or 5 × a power of ten) giving about `count` ticks over `range`. */
export function niceStep(range: number, count: number): number {
  const raw = range / count;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Draws the rows in view, then the label column and the time axis over them. */
export function drawTimeline(v: Timeline): void {
  const { ROW, LANE, LABEL, AXIS } = LAYOUT;
  const { ctx, rows, W, H, x0, x1 } = v;
  const N = rows.length;
  const px = (t: number): number => LABEL + ((t - x0) / (x1 - x0)) * (W - LABEL);
  const top = v.box.scrollTop;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '12px system-ui, sans-serif';
  const first = Math.max(0, Math.floor(top / ROW));
  const last = Math.min(N - 1, Math.floor((top + H - AXIS) / ROW));
  const step = niceStep(x1 - x0, Math.max(2, (W - LABEL) / 110));
  ctx.strokeStyle = '#eee';
  ctx.beginPath();
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
    const x = Math.round(px(t)) + 0.5;
    ctx.moveTo(x, AXIS);
    ctx.lineTo(x, H);
  }
  ctx.stroke();
  let bars = 0;
  for (let i = first; i <= last; i++) {
    const y = AXIS + i * ROW - top;
    if (i % 2) {
      ctx.fillStyle = '#fafafa';
      ctx.fillRect(LABEL, y, W - LABEL, ROW);
    }
    laneSlices(v, i).forEach((lane, l) => {
      const ly = y + 2 + l * (LANE + 1);
      let lastX = -1;
      let lastStage = -1;
      for (let k = 0; k < lane.length; k += 3) {
        if (lane[k + 2] < x0 || lane[k + 1] > x1) continue;
        const a = Math.max(LABEL, px(lane[k + 1]));
        const b = Math.min(W, px(lane[k + 2]));
        // Slices thinner than a pixel that land on one already drawn in that colour add nothing.
        if (b - a < 1 && Math.floor(a) === lastX && lane[k] === lastStage) continue;
        ctx.fillStyle = v.stages[lane[k]][1];
        ctx.fillRect(a, ly, Math.max(1, b - a), LANE);
        lastX = Math.floor(a);
        lastStage = lane[k];
        bars++;
      }
    });
    if (rows[i][5]) {
      ctx.strokeStyle = '#dc2626';
      ctx.strokeRect(LABEL + 0.5, y + 0.5, W - LABEL - 1, ROW - 1);
    }
  }
  // The label column and the axis are drawn last, over the bars: they never move with zoom or pan.
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, AXIS, LABEL, H);
  ctx.fillStyle = '#111';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  for (let i = first; i <= last; i++) {
    const rid = rows[i][0];
    ctx.fillText(rid.length > 26 ? rid.slice(0, 25) + '…' : rid, 6, AXIS + i * ROW - top + ROW / 2);
  }
  ctx.strokeStyle = '#ccc';
  ctx.beginPath();
  ctx.moveTo(LABEL - 0.5, AXIS);
  ctx.lineTo(LABEL - 0.5, H);
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, AXIS);
  ctx.strokeStyle = '#999';
  ctx.beginPath();
  ctx.moveTo(LABEL, AXIS - 0.5);
  ctx.lineTo(W, AXIS - 0.5);
  ctx.fillStyle = '#333';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  v.state.ticks = [];
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
    const x = Math.round(px(t)) + 0.5;
    ctx.moveTo(x, AXIS - 6);
    ctx.lineTo(x, AXIS);
    const label = unit(t, step);
    if (x > LABEL + 20 && x < W - 20) {
      ctx.fillText(label, x, AXIS - 10);
      v.state.ticks.push(label);
    }
  }
  ctx.stroke();
  ctx.textAlign = 'left';
  ctx.fillStyle = '#555';
  ctx.fillText(N + ' requests', 6, AXIS - 10);
  v.state.bars = bars;
}
