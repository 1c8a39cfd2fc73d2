import type { ReplayOptions, ReplayResult } from '../replay/replay_result.js';
import type { TimingSample } from '../replay/fidelity.js';
import type { TimingModel } from '../replay/simulator.js';
import { describeFit } from '../workload/fit_context.js';
import { formatBenchMetrics } from './bench_report.js';
import { fidelityHtml, formatFidelity } from './fidelity_report.js';
import { printable } from './terminal_text.js';

/** A replay's report for the terminal: what ran, the fitted models, the bench metrics, schedule, prefix cache and fidelity. */
export function formatReplay(r: ReplayResult, o: ReplayOptions): string {
  const out: string[] = [];
  if (r.loaded) out.push(`Model ${printable(r.loaded.dir)} (${r.loaded.why})\n`);
  const fitted = r.fit && describeFit(r.fit);
  if (fitted) out.push(`${fitted}\n`);
  const simulated = r.mode === 'simulate';
  const warm = r.metrics?.warmup ? `, after ${r.metrics.warmup} warm-up requests (not measured)` : '';
  out.push(`${simulated ? 'Simulated' : 'Replayed'} ${r.requests} requests of ${printable(r.workload)} (${r.format})${warm}\n\n`);
  if (r.model) {
    const c = o.costScale;
    const scaled = c ? ` Those costs include --cost-scale: prefill × ${c.prefill}, decode steps and repacks × ${c.decode}.` : '';
    out.push(formatModel(r.model, r.profile && r.profile !== o.file ? ` of ${printable(r.profile)}` : '') + scaled + '\n\n');
  }
  if (r.metrics)
    out.push(formatBenchMetrics(r.metrics, simulated ? 'simulated engine' : o.urls?.length ? o.urls.join(', ') : 'in-process engine', r.workload) + '\n');
  if (r.schedule) {
    const s = r.schedule;
    out.push(
      `Arrivals: requests were sent ${s.p50.toFixed(2)} ms (p50), ${s.p99.toFixed(2)} ms (p99), ${s.max.toFixed(2)} ms (max) behind the trace's schedule${o.speed !== 1 ? ` at --speed ${o.speed}` : ''}.\n`,
    );
  }
  if (r.expectedHitRate !== null) {
    const { rate, from } = r.expectedHitRate;
    const got = r.metrics?.cache_hit_rate;
    const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
    const achieved = simulated
      ? 'the simulator does not model the prefix cache (its figures are for a cache that never hits)'
      : got === null || got === undefined
        ? 'the target did not report cached tokens'
        : `the replay got ${pct(got)}`;
    const expected =
      from === 'hash_ids'
        ? `the trace's hash_ids imply a hit rate of ${pct(rate)} (every block kept once seen)`
        : `the capture's engine had a hit rate of ${pct(rate)}`;
    out.push(`Prefix cache: ${expected}; ${achieved}.\n`);
  }
  // Stage timings can be compared only with a capture that has them.
  if (r.timings.captured.length)
    out.push('\n' + formatFidelity(r.fidelity, simulated ? 'simulated' : 'replayed', o.tolerance, 'captured', o.toleranceFloorMs) + '\n');
  if (o.output) out.push(`\nThe replay's trace is in ${o.output}.\n`);
  return out.join('');
}

/** The simulator's fitted timing models in one sentence. */
function formatModel(m: TimingModel, from: string): string {
  const spread = (x: { low: number; high: number }, of: string): string => `95% of ${of} within ×${x.low.toFixed(2)}–${x.high.toFixed(2)} of it`;
  const d = m.decodeStep;
  const decode =
    m.basis === 'steps'
      ? `decode step ${d.intercept.toFixed(3)} ms + ${d.perRequest.toFixed(4)} ms per row + ${(d.perRowToken * 1000).toFixed(3)} µs per row per cached token (fitted on ${m.fittedSteps} steps, ${spread(d.spread, 'steps')}); KV repack ${m.repack.intercept.toFixed(3)} ms + ${(m.repack.perRowToken * 1000).toFixed(3)} µs per row per cached token`
      : `decode step ${d.intercept.toFixed(3)} ms + ${d.perRequest.toFixed(4)} ms per running request (${spread(d.spread, 'requests')})`;
  return `Fitted on ${m.fittedOn} requests${from}: prefill ${m.prefill.intercept.toFixed(3)} ms + ${m.prefill.perToken.toFixed(4)} ms per token + ${(m.prefill.perTokenSquared * 1e6).toFixed(3)} ns per row per token²${m.prefill.rowByRow ? ', its rows one at a time (the gqa layout: each row its own tokens)' : ''} (${spread(m.prefill.spread, 'prefill runs')}); ${decode}.`;
}

/** The replay's HTML report: the fidelity table and latency CDFs, captured against replayed (or simulated). */
export function replayHtml(r: ReplayResult, file: string): Promise<string> {
  const pick = (ts: readonly TimingSample[]): { e2e: number[]; ttft: number[] } => ({
    e2e: ts.map((t) => t.e2eMs),
    ttft: ts.flatMap((t) => (t.ttftMs === null ? [] : [t.ttftMs])),
  });
  return fidelityHtml(`sgl replay ${file}`, r.fidelity, pick(r.timings.captured), pick(r.timings.replayed), r.mode === 'simulate' ? 'simulated' : 'replayed');
}
