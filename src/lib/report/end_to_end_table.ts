import type { EndToEnd } from '../analysis/end_to_end.js';
import { S } from '../tracing/stages.js';
import type { StageName } from '../tracing/stages.js';
import { percentile } from '../stats/distribution.js';
import { compactTable } from './compact_table.js';
import { printable } from './terminal_text.js';

/** The server stages a breakdown shows, in the stage table's order. */
function columns(rows: readonly EndToEnd[]): string[] {
  const stages: string[] = [];
  for (const r of rows) for (const name of Object.keys(r.serverStages)) if (!stages.includes(name)) stages.push(name);
  return stages.sort((a, b) => S[a as StageName] - S[b as StageName]);
}

const f = (v: number): string => v.toFixed(2);

/**
 * Where the client's time went, over every joined request (mean ms and share
 * of the client's E2E, per place) and for the slowest ones request by request.
 */
export function formatEndToEnd(all: readonly EndToEnd[], slowest: readonly EndToEnd[]): string {
  const stages = columns(all);
  const mean = (pick: (r: EndToEnd) => number): number => all.reduce((a, r) => a + pick(r), 0) / all.length;
  const e2e = mean((r) => r.clientE2eMs);
  const overall = compactTable(['where', 'mean ms', '% of client e2e'], 1);
  const place = (name: string, ms: number): void => void overall.push([name, f(ms), ((100 * ms) / e2e).toFixed(1)]);
  place(
    'network/HTTP',
    mean((r) => r.networkMs),
  );
  for (const s of stages)
    place(
      `server ${s}`,
      mean((r) => r.serverStages[s] ?? 0),
    );
  place(
    'server, no stage',
    mean((r) => r.serverOtherMs),
  );
  overall.push(['client e2e', f(e2e), '100.0']);
  let text = overall.toString();
  const transit = all
    .map((r) => r.firstTokenTransitMs)
    .filter((v): v is number => v !== null)
    .sort((a, b) => a - b);
  if (transit.length) {
    text += `\nFirst token in transit (the server wrote it → the client read it): p50 ${f(percentile(transit, 50))}  p90 ${f(percentile(transit, 90))}  max ${f(transit[transit.length - 1])} ms`;
  }
  if (slowest.length) {
    const each = compactTable(['request', 'client e2e', 'network/HTTP', ...stages, 'no stage'], 1);
    for (const r of slowest)
      each.push([printable(r.rid), f(r.clientE2eMs), f(r.networkMs), ...stages.map((s) => f(r.serverStages[s] ?? 0)), f(r.serverOtherMs)]);
    text += `\n\nSlowest requests, ms (each row adds up to its client e2e):\n${each.toString()}`;
  }
  return text;
}
