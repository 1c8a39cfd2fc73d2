/**
 * The pieces every sgl HTML page is made of: colours, escaping, SVG figures
 * and the page around them (inline styles, nothing fetched).
 */

/** Series and stage colours of every sgl page. */
export const COLORS = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4f46e5',
  '#65a30d',
  '#0d9488',
  '#b91c1c',
  '#7c3aed',
];
export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const W = 640;
const H = 260;
const PAD = 44;

/** The largest value, by a loop (a spread into Math.max overflows the stack past about 100,000 values). */
function largest(values: Iterable<number>, floor: number): number {
  let max = floor;
  for (const v of values) if (v > max) max = v;
  return max;
}

/** Points per CDF line: enough for a smooth curve at this width, however many requests. */
const CDF_POINTS = 400;

/** An SVG figure of empirical CDFs, one line per series. */
export function cdfFigure(title: string, series: { name: string; values: number[] }[]): string {
  let max = 1e-9;
  for (const s of series) max = largest(s.values, max);
  const x = (v: number): number => PAD + ((W - 2 * PAD) * v) / max;
  const y = (p: number): number => H - PAD + (2 * PAD - H) * p;
  const lines = series.map((s, i) => {
    const sorted = Float64Array.from(s.values).sort();
    const n = sorted.length;
    const step = Math.max(1, Math.floor(n / CDF_POINTS));
    const pts: string[] = [];
    for (let k = 0; k < n; k += step) pts.push(`${x(sorted[k]).toFixed(1)},${y((k + 1) / n).toFixed(1)}`);
    if (n && (n - 1) % step !== 0) pts.push(`${x(sorted[n - 1]).toFixed(1)},${y(1).toFixed(1)}`);
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${PAD},${y(0)} ${pts.join(' ')}"/><text x="${W - PAD - 120}" y="${PAD + 16 * i}" fill="${COLORS[i % COLORS.length]}">${esc(s.name)}</text>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (t) =>
        `<text x="${x(t * max)}" y="${H - PAD + 16}" text-anchor="middle">${(t * max).toFixed(1)}</text><text x="${PAD - 6}" y="${y(t)}" text-anchor="end">${t}</text>`,
    )
    .join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><rect x="${PAD}" y="${PAD}" width="${W - 2 * PAD}" height="${H - 2 * PAD}" fill="none" stroke="#ccc"/>${ticks}${lines.join('')}</svg></figure>`;
}

export function bars(title: string, rows: { label: string; value: number; err?: number }[], unit: string): string {
  const max = largest(
    rows.map((r) => r.value + (r.err ?? 0)),
    1e-9,
  );
  const rowH = 24;
  const height = PAD + rows.length * rowH;
  const body = rows.map((r, i) => {
    const w = ((W - 3 * PAD - 60) * r.value) / max;
    const y0 = PAD / 2 + i * rowH;
    const err =
      r.err && Number.isFinite(r.err)
        ? `<line x1="${2 * PAD + w - ((W - 3 * PAD - 60) * r.err) / max}" x2="${2 * PAD + w + ((W - 3 * PAD - 60) * r.err) / max}" y1="${y0 + 9}" y2="${y0 + 9}" stroke="#111"/>`
        : '';
    return `<text x="${2 * PAD - 6}" y="${y0 + 13}" text-anchor="end">${esc(r.label)}</text><rect x="${2 * PAD}" y="${y0}" width="${w.toFixed(1)}" height="18" fill="${COLORS[i % COLORS.length]}"/>${err}<text x="${2 * PAD + w + 6}" y="${y0 + 13}">${r.value.toFixed(2)} ${unit}</text>`;
  });
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${height}" width="${W}" height="${height}">${body.join('')}</svg></figure>`;
}

/** The page around the figures: inline styles, nothing fetched. */
export function htmlPage(title: string, table: [string, string][], figures: string[]): string {
  const rows = table.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>
body{font:14px system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.4em}svg text{font-size:11px;fill:#333}
</style></head><body><h1>${esc(title)}</h1><table>${rows}</table>${figures.join('')}</body></html>\n`;
}
