import { percentile, tpotMs } from '../stats/distribution.js';
import { sampleVerdict } from '../stats/significance.js';
import type { RequestOutcome } from '../target/driver.js';
import type { WorkloadRecord } from '../tracing/finished_request.js';

/** One request's timings, captured or replayed. */
export interface TimingSample {
  id: string;
  ttftMs: number | null;
  tpotMs: number | null;
  e2eMs: number;
  /** Total ms per stage; empty when the target could not say (a remote server). */
  stages: Record<string, number>;
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface FidelityRow {
  name: string;
  captured: Percentiles;
  replayed: Percentiles;
  /** (replayed p50 − captured p50) / captured p50. */
  p50Drift: number;
  /** Whether the two samples differ beyond their noise (Mann-Whitney U at 95%); null with too few samples. */
  significant: boolean | null;
  /** The test's two-sided p-value; null with too few samples. */
  p: number | null;
  /** Simulated rows: the predicted percentiles at the two ends of the fits' residual spread (a 95% band). */
  band?: { low: Percentiles; high: Percentiles };
}

export interface FidelityReport {
  rows: FidelityRow[];
  /** The requests whose E2E changed most, by relative difference. */
  drifted: { id: string; capturedMs: number; replayedMs: number; drift: number }[];
}

export function fromRecord(w: WorkloadRecord): TimingSample {
  const tpot = tpotMs(w);
  return { id: w.rid, ttftMs: w.ttftMs, tpotMs: tpot, e2eMs: w.e2eMs, stages: w.stages };
}

export function fromOutcome(o: RequestOutcome): TimingSample {
  const tpot = tpotMs(o);
  return { id: o.id, ttftMs: o.ttftMs, tpotMs: tpot, e2eMs: o.e2eMs, stages: {} };
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) };
}

/** Stage by stage, and for TTFT, TPOT and E2E, captured against replayed. */
export function compareTimings(captured: readonly TimingSample[], replayed: readonly TimingSample[]): FidelityReport {
  const names = [...new Set(captured.flatMap((t) => Object.keys(t.stages)))].filter((n) => replayed.some((t) => n in t.stages));
  const metric = (pick: (t: TimingSample) => number | null | undefined): [number[], number[]] => [
    captured.flatMap((t) => pick(t) ?? []),
    replayed.flatMap((t) => pick(t) ?? []),
  ];
  const rows: FidelityRow[] = [];
  const add = (name: string, [a, b]: [number[], number[]]): void => {
    if (a.length === 0 || b.length === 0) return;
    const captured = percentiles(a);
    const replayedP = percentiles(b);
    const { significant, p } = sampleVerdict(a, b);
    rows.push({ name, captured, replayed: replayedP, p50Drift: (replayedP.p50 - captured.p50) / captured.p50, significant, p });
  };
  for (const n of names)
    add(
      n,
      metric((t) => t.stages[n]),
    );
  add(
    'TTFT',
    metric((t) => t.ttftMs),
  );
  add(
    'TPOT',
    metric((t) => t.tpotMs),
  );
  add(
    'E2E',
    metric((t) => t.e2eMs),
  );
  const byId = new Map(replayed.map((t) => [t.id, t]));
  const drifted = captured
    .flatMap((c) => {
      const r = byId.get(c.id);
      return r ? [{ id: c.id, capturedMs: c.e2eMs, replayedMs: r.e2eMs, drift: (r.e2eMs - c.e2eMs) / c.e2eMs }] : [];
    })
    .sort((a, b) => Math.abs(b.drift) - Math.abs(a.drift))
    .slice(0, 5);
  return { rows, drifted };
}

/** Below this many milliseconds a p50 difference is timer and scheduling noise, whatever its share. */
export const DEFAULT_FLOOR_MS = 0.5;

/**
 * Whether a row fails the gate: its p50 drifted beyond the relative
 * `tolerance` (a fraction) and the absolute floor (ms), and, where there are
 * samples enough to test, the rank test calls the difference real with
 * `alpha` (the caller spreads 5% over every row it gates, so a dozen rows of
 * noise do not fail one gate in two).
 */
function drifted(r: FidelityRow, tolerance: number, floorMs = DEFAULT_FLOOR_MS, alpha = 0.05): boolean {
  if (!(Math.abs(r.p50Drift) > tolerance && Math.abs(r.replayed.p50 - r.captured.p50) > floorMs)) return false;
  return r.p === null || r.p < alpha;
}

/**
 * The rows that fail the gate: beyond `tolerance` and the floor, and a real
 * difference at 95% across all the rows together (Bonferroni: each row's p
 * under 0.05 ÷ rows). A 0.03 ms stage or a noisy p50 does not fail it; a
 * decode that really got slower does.
 */
export function beyondTolerance(report: FidelityReport, tolerance: number, floorMs = DEFAULT_FLOOR_MS): FidelityRow[] {
  const alpha = 0.05 / Math.max(1, report.rows.length);
  return report.rows.filter((r) => drifted(r, tolerance, floorMs, alpha));
}

/** Attaches to each predicted row the same row predicted at the low and high ends of the fits' spread. */
export function withBand(report: FidelityReport, low: FidelityReport, high: FidelityReport): FidelityReport {
  const find = (r: FidelityReport, name: string): Percentiles | undefined => r.rows.find((x) => x.name === name)?.replayed;
  return {
    ...report,
    rows: report.rows.map((row) => {
      const lo = find(low, row.name);
      const hi = find(high, row.name);
      return lo && hi ? { ...row, band: { low: lo, high: hi } } : row;
    }),
  };
}
