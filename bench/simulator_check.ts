/**
 * Is the simulator right? For each preset model: capture a profile with
 * `sgl bench` (random prompts at a steady rate, trace level 3 with the
 * scheduler and engine modules, so decode steps are fitted one by one), write a
 * public-format trace (Mooncake JSONL: Poisson arrivals, prompts of 200 to
 * 2,000 tokens, scaled to fit where the context is shorter), then replay that trace twice on the same fitted
 * workload: executed in-process, and simulated from the profile. Prints
 * the figures side by side and the ratios simulated ÷ executed, against
 * the targets E2E p50 within 10% and TTFT p90 within 20%.
 *
 *   npm run build && npx tsx bench/simulator_check.ts [--presets small,base] [--requests 120] [--rate 0.5] [--profile-rate R] [--keep DIR]
 *
 * --profile-rate makes the profile at another rate than the trace's: a
 * profile at a lower load predicting a higher one is the held-out check
 * (the simulator must extrapolate to batch sizes it never saw).
 *
 * --keep DIR keeps the profile, the trace and both results there, so the
 * simulation can be rerun against the same execution.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { presetModel } from './preset.js';
import { Rng } from '../src/lib/stats/rng.js';

const { values: opts } = parseArgs({
  options: {
    presets: { type: 'string', default: 'small,base' },
    requests: { type: 'string', default: '120' },
    rate: { type: 'string', default: '0.5' },
    'profile-rate': { type: 'string' },
    keep: { type: 'string' },
  },
});
const ROOT = resolve(import.meta.dirname, '..');
const dir = opts.keep ?? mkdtempSync(join(tmpdir(), 'sgl-simcheck-'));
const requests = Number(opts.requests);
const rate = Number(opts.rate);
const profileRate = Number(opts['profile-rate'] ?? opts.rate);

interface Metrics {
  completed: number;
  failed: number;
  ttft_ms: { median: number; p90: number };
  e2e_latency_ms: { median: number; p90: number };
  tpot_ms: { median: number };
  mean_concurrency: number;
  peak_concurrency: number;
}

const sgl = (args: string[]): string =>
  execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });

/** A Mooncake-format trace: Poisson arrivals at `rate`/s, long prompts (the fit scales them into the context). */
function mooncakeTrace(path: string, seed: number): void {
  const rng = new Rng(seed);
  let t = 0;
  const lines: string[] = [];
  for (let i = 0; i < requests; i++) {
    t += (-Math.log(1 - rng.next()) / rate) * 1000;
    lines.push(
      JSON.stringify({
        timestamp: Math.round(t),
        input_length: 200 + Math.floor(rng.next() * 1800),
        output_length: 20 + Math.floor(rng.next() * 100),
        hash_ids: [],
      }),
    );
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

const pct = (x: number): string => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)}%`;
for (const name of opts.presets!.split(',')) {
  const { dir: model } = presetModel(name);
  const profile = join(dir, `${name}-profile.json`);
  const trace = join(dir, `${name}-trace.jsonl`);
  mooncakeTrace(trace, 7);
  const t0 = performance.now();
  // The profile: the same engine, random prompts over the range of lengths the trace has (2,000 × [0.1, 1]; outputs 12 to 120), at its rate.
  const profiled = JSON.parse(
    sgl([
      'bench',
      '--model-path',
      model,
      '--trace-level',
      '3',
      '--trace-module',
      'request,scheduler,engine',
      '--trace-file',
      profile,
      '--num-prompts',
      String(requests),
      '--request-rate',
      String(profileRate),
      '--random-input-len',
      '2000',
      '--random-output-len',
      '120',
      '--random-range-ratio',
      '0.1',
      '--json',
    ]),
  ) as { metrics?: Metrics };
  const executed = JSON.parse(sgl(['replay', trace, '--model-path', model, '--output', join(dir, `${name}-replay.json`), '--json'])) as {
    metrics: Metrics;
    fit: { factor: number };
  };
  const simulated = JSON.parse(sgl(['replay', trace, '--model-path', model, '--simulate', '--profile', profile, '--json'])) as { metrics: Metrics };
  writeFileSync(join(dir, `${name}-executed.json`), JSON.stringify(executed));
  writeFileSync(join(dir, `${name}-simulated.json`), JSON.stringify(simulated));
  const e = executed.metrics;
  const s = simulated.metrics;
  const e2e = s.e2e_latency_ms.median / e.e2e_latency_ms.median;
  const ttft = s.ttft_ms.p90 / e.ttft_ms.p90;
  console.log(
    `\n${name} preset: ${requests} requests at ${rate}/s, lengths scaled by ${executed.fit.factor.toFixed(4)}, profile at ${profileRate}/s (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  if (profiled.metrics) console.log(`profile: peak concurrency ${profiled.metrics.peak_concurrency}, mean ${profiled.metrics.mean_concurrency.toFixed(1)}`);
  console.log('                 executed   simulated   simulated ÷ executed');
  const line = (label: string, a: number, b: number, target: string): void =>
    console.log(`${label.padEnd(16)} ${a.toFixed(2).padStart(9)} ${b.toFixed(2).padStart(11)}   ${pct(b / a).padStart(8)} ${target}`);
  line('E2E p50 (ms)', e.e2e_latency_ms.median, s.e2e_latency_ms.median, `(target ±10%: ${Math.abs(e2e - 1) <= 0.1 ? 'met' : 'MISSED'})`);
  line('E2E p90 (ms)', e.e2e_latency_ms.p90, s.e2e_latency_ms.p90, '');
  line('TTFT p50 (ms)', e.ttft_ms.median, s.ttft_ms.median, '');
  line('TTFT p90 (ms)', e.ttft_ms.p90, s.ttft_ms.p90, `(target ±20%: ${Math.abs(ttft - 1) <= 0.2 ? 'met' : 'MISSED'})`);
  line('TPOT p50 (ms)', e.tpot_ms.median, s.tpot_ms.median, '');
  line('concurrency', e.mean_concurrency, s.mean_concurrency, '');
  line('peak concurrency', e.peak_concurrency, s.peak_concurrency, '');
}
