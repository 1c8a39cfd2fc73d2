/// <reference lib="dom" />
// The trace view page's script: it runs in the browser, not in Node. It is
// TypeScript so that it is type-checked and linted with the rest; the page
// embeds its compiled source (clientScript), so nothing is fetched.
import { LAYOUT, drawTimeline, laneSlices, niceStep, unit } from './trace_view_draw.js';
import type { Timeline, ViewRow } from './trace_view_draw.js';

/** The page's interaction: zoom and pan (wheel, drag, keys), scrolling through requests, details on hover. */
function traceViewClient(): void {
  const { ROW, LANE, LABEL, AXIS } = LAYOUT;
  const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
  const data = JSON.parse(byId('data').textContent ?? '{}') as { stages: Timeline['stages']; rows: ViewRow[] };
  const rows = data.rows;
  const N = rows.length;
  const box = byId<HTMLDivElement>('timeline');
  const canvas = byId<HTMLCanvasElement>('canvas');
  const spacer = byId<HTMLDivElement>('spacer');
  const tip = byId<HTMLDivElement>('tip');
  let total = 1;
  for (const r of rows) total = Math.max(total, r[1] + r[2]);
  total /= 1000;
  const v: Timeline = {
    rows,
    stages: data.stages,
    box,
    ctx: canvas.getContext('2d')!,
    x0: 0,
    x1: total,
    total,
    W: 0,
    H: 0,
    decoded: new Map(),
    state: {
      ticks: [],
      bars: 0,
      get range(): [number, number] {
        return [v.x0, v.x1];
      },
      rows: N,
    },
  };
  (window as unknown as { sglView: Timeline['state'] }).sglView = v.state;
  const ms = (x: number): number => v.x0 + ((x - LABEL) / (v.W - LABEL)) * (v.x1 - v.x0);
  let lastPointer: { clientX: number; clientY: number } | null = null;
  const draw = (): void => {
    drawTimeline(v);
    // A tip on screen follows what is now under the pointer.
    if (lastPointer && !tip.hidden) hover(lastPointer);
  };
  function resize(): void {
    const dpr = window.devicePixelRatio || 1;
    v.W = box.clientWidth;
    v.H = box.clientHeight;
    canvas.width = v.W * dpr;
    canvas.height = v.H * dpr;
    canvas.style.width = v.W + 'px';
    canvas.style.height = v.H + 'px';
    v.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    spacer.style.height = Math.max(0, AXIS + N * ROW - v.H) + 'px';
    draw();
  }
  let pending = false;
  const redraw = (): void => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  };
  function zoom(factor: number, atMs: number): void {
    const span = Math.min(total, Math.max(0.001, (v.x1 - v.x0) * factor));
    const f = (atMs - v.x0) / (v.x1 - v.x0);
    v.x0 = atMs - f * span;
    v.x1 = v.x0 + span;
    pan(0);
  }
  function pan(deltaMs: number): void {
    const span = v.x1 - v.x0;
    v.x0 = Math.min(Math.max(0, v.x0 + deltaMs), Math.max(0, total - span));
    v.x1 = v.x0 + span;
    redraw();
  }
  const fit = (x0: number, x1: number): void => {
    v.x0 = x0;
    v.x1 = x1;
    redraw();
  };
  box.addEventListener(
    'wheel',
    (e) => {
      if (e.shiftKey) return; // Shift+wheel scrolls the requests, as the scroll bar does.
      e.preventDefault();
      const x = Math.max(LABEL, e.clientX - canvas.getBoundingClientRect().left);
      if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) pan((e.deltaX / (v.W - LABEL)) * (v.x1 - v.x0));
      else zoom(Math.pow(1.0015, e.deltaY), ms(x));
    },
    { passive: false },
  );
  box.addEventListener('scroll', redraw);
  let drag: { x: number; y: number; x0: number; top: number } | null = null;
  box.addEventListener('mousedown', (e) => {
    drag = { x: e.clientX, y: e.clientY, x0: v.x0, top: box.scrollTop };
    box.style.cursor = 'grabbing';
    box.focus({ preventScroll: true });
  });
  window.addEventListener('mouseup', () => {
    drag = null;
    box.style.cursor = '';
  });
  window.addEventListener('mousemove', (e) => {
    if (!drag) return hover(e);
    const span = v.x1 - v.x0;
    v.x0 = drag.x0;
    v.x1 = v.x0 + span;
    pan(-((e.clientX - drag.x) / (v.W - LABEL)) * span);
    box.scrollTop = drag.top - (e.clientY - drag.y);
    tip.hidden = true;
  });
  box.addEventListener('mouseleave', () => {
    tip.hidden = true;
  });
  // A double click on a row fits the time axis to that request.
  box.addEventListener('dblclick', (e) => {
    const i = Math.floor((e.clientY - canvas.getBoundingClientRect().top - AXIS + box.scrollTop) / ROW);
    if (i < 0 || i >= N) return;
    const a = rows[i][1] / 1000;
    const len = Math.max(0.01, rows[i][2] / 1000);
    const x0 = Math.max(0, a - len * 0.05);
    fit(x0, Math.min(total, x0 + len * 1.1));
  });
  box.addEventListener('keydown', (e) => {
    const span = v.x1 - v.x0;
    const mid = (v.x0 + v.x1) / 2;
    const scroll = (by: number) => (): void => void (box.scrollTop += by);
    const keys: Record<string, () => void> = {
      w: () => zoom(0.8, mid),
      '+': () => zoom(0.8, mid),
      '=': () => zoom(0.8, mid),
      s: () => zoom(1.25, mid),
      '-': () => zoom(1.25, mid),
      a: () => pan(-span * 0.2),
      ArrowLeft: () => pan(-span * 0.2),
      d: () => pan(span * 0.2),
      ArrowRight: () => pan(span * 0.2),
      ArrowUp: scroll(-ROW),
      ArrowDown: scroll(ROW),
      PageUp: scroll(-(v.H - AXIS)),
      PageDown: scroll(v.H - AXIS),
      '0': () => fit(0, total),
      Home: () => fit(0, total),
    };
    const act = keys[e.key] ?? keys[e.key.toLowerCase()];
    if (act) {
      e.preventDefault();
      act();
    }
  });
  function hover(e: { clientX: number; clientY: number }): void {
    lastPointer = { clientX: e.clientX, clientY: e.clientY };
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    const i = Math.floor((y - AXIS + box.scrollTop) / ROW);
    if (x < 0 || y < AXIS || x > v.W || y > v.H || i < 0 || i >= N) {
      tip.hidden = true;
      return;
    }
    const row = rows[i];
    let text = row[0] + '\n' + unit(row[2] / 1000, 0.01) + ' end to end, from ' + unit(row[1] / 1000, 0.01) + (row[5] ? '\nfailed' : '');
    if (x >= LABEL) {
      const l = y - AXIS + box.scrollTop - i * ROW - 2 < LANE + 1 ? 0 : 1;
      const lane = laneSlices(v, i)[l];
      const t = ms(x);
      const slack = ((v.x1 - v.x0) / (v.W - LABEL)) * 2;
      for (let k = 0; k < lane.length; k += 3) {
        if (t < lane[k + 1] - slack || t > lane[k + 2] + slack) continue;
        const at = unit(lane[k + 1] - row[1] / 1000, 0.1);
        text = v.stages[lane[k]][0] + ' (' + (l ? 'worker' : 'main') + ')\n' + unit(lane[k + 2] - lane[k + 1], 0.1) + ' at +' + at + '\n' + row[0];
        break;
      }
    }
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = Math.min(x + 14, v.W - 260) + 'px';
    tip.style.top = y + box.scrollTop + 14 + 'px';
  }
  new ResizeObserver(resize).observe(box);
  resize();
}

/**
 * The script as the page embeds it: the compiled source of each function the
 * page runs, then a call. `__name` is defined for sources run through tsx
 * (bin/dev.js), whose esbuild keeps function names by wrapping them in it;
 * the built code has none.
 */
export function clientScript(): string {
  const parts = [unit, niceStep, laneSlices, drawTimeline, traceViewClient].map(String);
  return `const __name = (f) => f;\nconst LAYOUT = ${JSON.stringify(LAYOUT)};\n${parts.join('\n')}\ntraceViewClient();`;
}
