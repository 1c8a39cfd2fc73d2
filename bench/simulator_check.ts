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
 *   npm run build && npx tsx bench/simulator_check.ts [--presets small,base] [--requests 120] [--rate 0.5] [--profile-rate R] [--executions N] [--threads N] [--keep DIR]
 *
 * --profile-rate makes the profile at another rate than the trace's: a
 * profile at a lower load predicting a higher one is the held-out check
 * (the simulator must extrapolate to batch sizes it never saw).
 *
 * --executions N executes the trace N times (default 1) and compares the
 * simulation with their median, next to their range: near saturation two
 * executions of one trace differ by more than the targets (the queue
 * amplifies a few percent of machine speed), and a simulation can be no
 * closer to one execution than the executions are to each other.
 *
 * --threads N gives the engine N intra-op threads (default: all cores) in
 * the profile and the executions alike: on a machine with cores to spare,
 * fewer threads than cores keep onnxruntime from competing with the main
 * thread and the tokenizers, one source of the executions' spread.
 *
 * The executions are traced at level 3 with the engine's steps, so the
 * check can also tell the simulator's errors from the machine's: on a VM
 * whose speed drifts by tens of percent over minutes, the profile and the
 * executions run at different speeds. Each execution's one-row prefill runs
 * and its decode steps no larger than the profile's largest are set against
 * the profile's fit (costRatios, divided by the profile's own), and the
 * trace is simulated again with the costs scaled by the executions' median
 * (`--cost-scale`): the batches the profile never saw stay held out.
 *
 * --keep DIR keeps the profile, the trace and the results there, so the
 * simulation can be rerun against the same executions.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { presetModel } from './preset.js';
import { costRatios } from '../src/lib/replay/cost_ratios.js';
import type { TimingModel } from '../src/lib/replay/sim_types.js';
import { Rng } from '../src/lib/stats/rng.js';

const { values: opts } = parseArgs({
  options: {
    presets: { type: 'string', default: 'small,base' },
    requests: { type: 'string', default: '120' },
    rate: { type: 'string', default: '0.5' },
    'profile-rate': { type: 'string' },
    executions: { type: 'string', default: '1' },
    keep: { type: 'string' },
    threads: { type: 'string' },
  },
});
const ROOT = resolve(import.meta.dirname, '..');
const dir = opts.keep ? (mkdirSync(opts.keep, { recursive: true }), opts.keep) : mkdtempSync(join(tmpdir(), 'sgl-simcheck-'));
const requests = Number(opts.requests);
const rate = Number(opts.rate);
const profileRate = Number(opts['profile-rate'] ?? opts.rate);
const executions = Math.max(1, Number(opts.executions));

interface Metrics {
  completed: number;
  failed: number;
  ttft_ms: { median: number; p90: number };
  e2e_latency_ms: { median: number; p90: number };
  tpot_ms: { median: number };
  mean_concurrency: number;
  peak_concurrency: number;
}

const threads = opts.threads ? ['--threads', String(Number(opts.threads))] : [];
/** An sgl command; `engine`: it runs the model, with the engine's thread count. */
const sgl = (args: string[], engine = true): string =>
  execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), ...args, ...(engine ? threads : [])], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'inherit'],
  });

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

/** The sgl modules whose level-3 trace holds every engine step. */
const STEP_MODULES = 'request,scheduler,engine';
function middle(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}
const pct = (x: number): string => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)}%`;
for (const name of opts.presets!.split(',')) {
  const { dir: model } = presetModel(name);
  const profile = join(dir, `${name}-profile.json`);
  const trace = join(dir, `${name}-trace.jsonl`);
  mooncakeTrace(trace, 7);
  const replayTrace = (k: number): string => join(dir, `${name}-replay-${k + 1}.json`);
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
      STEP_MODULES,
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
  const runs: { metrics: Metrics; fit: { factor: number } }[] = [];
  for (let k = 0; k < executions; k++)
    runs.push(
      JSON.parse(
        sgl(['replay', trace, '--model-path', model, '--trace-level', '3', '--trace-module', STEP_MODULES, '--output', replayTrace(k), '--json']),
      ) as (typeof runs)[number],
    );
  const simulate = (...extra: string[]): { metrics: Metrics; model: TimingModel } =>
    JSON.parse(sgl(['replay', trace, '--model-path', model, '--simulate', '--profile', profile, ...extra, '--json'], false)) as {
      metrics: Metrics;
      model: TimingModel;
    };
  const simulated = simulate();
  // The machine's speed during each execution against the profile's, where the profile saw the same work.
  const own = costRatios(simulated.model, profile);
  const speeds = runs.map((_, k) => {
    const r = costRatios(simulated.model, replayTrace(k));
    return { prefill: r.prefill / own.prefill, decode: r.decode / own.decode, runs: r.prefillRuns, periods: r.decodePeriods };
  });
  const speed = { prefill: middle(speeds.map((x) => x.prefill)), decode: middle(speeds.map((x) => x.decode)) };
  const corrected = simulate('--cost-scale', `prefill=${speed.prefill.toFixed(4)},decode=${speed.decode.toFixed(4)}`);
  runs.forEach((r, k) => writeFileSync(join(dir, `${name}-executed-${k + 1}.json`), JSON.stringify(r)));
  writeFileSync(join(dir, `${name}-simulated.json`), JSON.stringify(simulated));
  writeFileSync(join(dir, `${name}-simulated-corrected.json`), JSON.stringify(corrected));
  console.log(
    `\n${name} preset: ${requests} requests at ${rate}/s, lengths scaled by ${runs[0].fit.factor.toFixed(4)}, profile at ${profileRate}/s, ${executions} execution(s) (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  if (profiled.metrics) console.log(`profile: peak concurrency ${profiled.metrics.peak_concurrency}, mean ${profiled.metrics.mean_concurrency.toFixed(1)}`);
  const x = (v: number): string => `×${v.toFixed(3)}`;
  console.log(
    `machine speed, execution ÷ profile on the work both saw (one-row prefill runs; decode steps of at most ${simulated.model.covered.rows} rows): ` +
      speeds.map((v, k) => `#${k + 1} prefill ${x(v.prefill)} (${v.runs} runs), decode ${x(v.decode)} (${v.periods} steps)`).join('; '),
  );
  for (const [title, s] of [
    ['simulated from the profile as it is', simulated.metrics],
    [
      `simulated with the profile's costs scaled to the executions' speed (--cost-scale prefill=${speed.prefill.toFixed(3)},decode=${speed.decode.toFixed(3)})`,
      corrected.metrics,
    ],
  ] as const) {
    console.log(`\n${title}:`);
    console.log(`                 executed${executions > 1 ? ' median (range)      ' : ''}   simulated   simulated ÷ executed`);
    const line = (label: string, of: (m: Metrics) => number, target?: number): void => {
      const values = runs.map((r) => of(r.metrics)).sort((a, b) => a - b);
      const mid = middle(values);
      const sim = of(s);
      const range = executions > 1 ? ` (${values[0].toFixed(0)}–${values[values.length - 1].toFixed(0)})`.padEnd(20) : '';
      const verdict =
        target === undefined
          ? ''
          : `(target ±${target * 100}%: ${Math.abs(sim / mid - 1) <= target ? 'met' : 'MISSED'}${executions > 1 ? `; ${sim >= values[0] && sim <= values[values.length - 1] ? 'within' : 'outside'} the executions' range` : ''})`;
      console.log(`${label.padEnd(16)} ${mid.toFixed(2).padStart(9)}${range} ${sim.toFixed(2).padStart(11)}   ${pct(sim / mid).padStart(8)} ${verdict}`);
    };
    line('E2E p50 (ms)', (m) => m.e2e_latency_ms.median, 0.1);
    line('E2E p90 (ms)', (m) => m.e2e_latency_ms.p90);
    line('TTFT p50 (ms)', (m) => m.ttft_ms.median);
    line('TTFT p90 (ms)', (m) => m.ttft_ms.p90, 0.2);
    line('TPOT p50 (ms)', (m) => m.tpot_ms.median);
    line('concurrency', (m) => m.mean_concurrency);
    line('peak concurrency', (m) => m.peak_concurrency);
  }
}
