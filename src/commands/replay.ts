import { writeFileSync } from 'node:fs';
import { Args, Errors, Flags } from '@oclif/core';
import { engineFlags, engineOptions } from '../lib/cli/engine_flags.js';
import { failureVerdict, maxFailuresFlag } from '../lib/cli/bench_flags.js';
import { numberFlag } from '../lib/cli/number_flag.js';
import { SglCommand } from '../lib/cli/sgl_command.js';
import { targetFlags } from '../lib/cli/target_flags.js';
import type { ReplayResult } from '../lib/replay/run_replay.js';
import { printable } from '../lib/report/terminal_text.js';

// Engine flags without defaults: what is not given comes from the capture's header.
const replayEngineFlags = Object.fromEntries(Object.entries(engineFlags).map(([k, f]) => [k, { ...f, default: undefined }])) as unknown as typeof engineFlags;

export default class Replay extends SglCommand {
  static override summary = 'Re-run a captured workload at its recorded arrival times and compare stage timings.';
  static override examples = [
    '<%= config.bin %> replay trace.json',
    '<%= config.bin %> replay trace.json --speed 2 --tolerance 10% --output replay.json',
    '<%= config.bin %> replay trace.json --simulate --max-running-requests 8',
    '<%= config.bin %> replay mooncake.jsonl --limit 200 --url http://127.0.0.1:30000',
    '<%= config.bin %> replay conversation_trace.jsonl --simulate --profile profile.json --max-running-requests 16',
  ];

  static override args = { file: Args.string({ required: true, description: 'An sgl trace file, Mooncake JSONL, Azure LLM inference CSV or BurstGPT CSV.' }) };

  static override flags = {
    ...replayEngineFlags,
    ...targetFlags,
    speed: numberFlag({ min: 0, exclusiveMin: true, default: 1, description: 'Time scale: 2 halves the gaps between arrivals.' }),
    limit: Flags.integer({ min: 1, description: 'Replay only the first N requests.' }),
    'time-window': Flags.custom<[number, number]>({
      description: 'Replay only requests that arrived in FROM:TO seconds of the capture.',
      parse: async (v) => {
        const [a, b] = v.split(':').map(Number);
        if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a) throw new Errors.CLIError(`--time-window takes FROM:TO in seconds with FROM < TO, got ${v}`, { exit: 2 });
        return [a * 1000, b * 1000];
      },
    })(),
    output: Flags.string({ description: 'The replay\'s own trace file (default: FILE with .replay.json, for sgl trace captures replayed in-process). With --url it holds the client\'s side of each request, under the trace ids the server continues.' }),
    html: Flags.string({ description: 'Write a self-contained HTML report (fidelity table, latency CDFs) to this file.' }),
    tolerance: Flags.custom<number>({
      description: 'Exit 1 when a stage\'s p50 drifts further than this (e.g. 10%) and further than --tolerance-floor.',
      parse: async (v) => {
        const n = v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : Number(v);
        if (!Number.isFinite(n) || n < 0) throw new Errors.CLIError(`--tolerance takes a percentage such as 10% or a fraction such as 0.1, got ${v}`, { exit: 2 });
        return n;
      },
    })(),
    'tolerance-floor': numberFlag({ min: 0, default: 0.5, description: 'Milliseconds of p50 a drift must also exceed to fail --tolerance: below it, sub-millisecond stages differ by timer noise alone.' }),
    simulate: Flags.boolean({ description: 'Predict timings without running the model, from models fitted to the capture (or to --profile).' }),
    profile: Flags.string({ description: 'With --simulate: an sgl trace of this model and engine to fit the timing models on, so any workload (a public trace too) can be simulated at full scale. Captured at trace level 3 with the scheduler and engine modules, decode steps are fitted one by one.', dependsOn: ['simulate'] }),
    'fit-context': Flags.option({ options: ['scale', 'clip', 'skip'] as const, default: 'scale' as const, description: 'How a public trace\'s requests are made to fit the model: scale every length by one factor (keeps the shape of the length distribution), clip only those that do not fit, or skip them. Rows with zero input or output tokens are always skipped and counted.' })(),
    'max-failures': maxFailuresFlag,
    seed: Flags.integer({ min: 0, default: 1, description: 'Seed for token ids of requests captured without content.' }),
    warmup: Flags.integer({ min: 0, description: 'Copies of the first requests sent first, not measured, under ids warmup-… (default: 2 in-process; none with --url, so a server sees exactly the capture\'s requests).' }),
  };

  async run(): Promise<ReplayResult> {
    const { args, flags } = await this.parse(Replay);
    const { runReplay } = await import('../lib/replay/run_replay.js');
    const { fidelityHtml, formatFidelity } = await import('../lib/report/fidelity_report.js');
    const output = flags.output ?? (flags.url || flags.simulate ? undefined : `${args.file.replace(/\.json$/, '')}.replay.json`);
    const result = await runReplay({
      file: args.file,
      urls: flags.url,
      policy: flags['url-policy'],
      endpoint: flags.endpoint,
      apiKey: flags['api-key'],
      engine: engineOptions(flags),
      speed: flags.speed,
      limit: flags.limit ?? Infinity,
      timeWindow: flags['time-window'] ?? null,
      output,
      tolerance: flags.tolerance ?? null,
      toleranceFloorMs: flags['tolerance-floor'],
      simulate: flags.simulate,
      seed: flags.seed,
      warmup: flags.warmup,
      fitContext: flags['fit-context'],
      profile: flags.profile,
    });
    for (const w of result.warnings) this.warn(printable(w));
    const { describeFit } = await import('../lib/workload/fit_context.js');
    const { formatBenchMetrics } = await import('../lib/report/bench_report.js');
    if (result.loaded) this.say(`Model ${printable(result.loaded.dir)} (${result.loaded.why})\n`);
    if (result.truncated) this.warn(`${args.file} was cut short; replaying the ${result.requests} requests it holds in full.`);
    const fitted = result.fit && describeFit(result.fit);
    if (fitted) this.say(`${fitted}\n`);
    const simulated = result.mode === 'simulate';
    const warm = result.metrics?.warmup ? `, after ${result.metrics.warmup} warm-up requests (not measured)` : '';
    this.say(`${simulated ? 'Simulated' : 'Replayed'} ${result.requests} requests of ${printable(result.workload)} (${result.format})${warm}\n\n`);
    if (result.model) {
      const m = result.model;
      const spread = (x: { low: number; high: number }, of: string): string => `95% of ${of} within ×${x.low.toFixed(2)}–${x.high.toFixed(2)} of it`;
      const from = result.profile && result.profile !== args.file ? ` of ${printable(result.profile)}` : '';
      const d = m.decodeStep;
      const decode =
        m.basis === 'steps'
          ? `decode step ${d.intercept.toFixed(3)} ms + ${d.perRequest.toFixed(4)} ms per row + ${(d.perRowToken * 1000).toFixed(3)} µs per row per cached token (fitted on ${m.fittedSteps} steps, ${spread(d.spread, 'steps')}); KV repack ${m.repack.intercept.toFixed(3)} ms + ${(m.repack.perRowToken * 1000).toFixed(3)} µs per row per cached token`
          : `decode step ${d.intercept.toFixed(3)} ms + ${d.perRequest.toFixed(4)} ms per running request (${spread(d.spread, 'requests')})`;
      this.say(`Fitted on ${m.fittedOn} requests${from}: prefill ${m.prefill.intercept.toFixed(3)} ms + ${m.prefill.perToken.toFixed(4)} ms/token (${spread(m.prefill.spread, 'prefill runs')}); ${decode}.\n\n`);
    }
    if (result.metrics) this.say(formatBenchMetrics(result.metrics, simulated ? 'simulated engine' : (flags.url?.join(', ') ?? 'in-process engine'), result.workload) + '\n');
    if (result.schedule) {
      const s = result.schedule;
      this.say(`Arrivals: requests were sent ${s.p50.toFixed(2)} ms (p50), ${s.p99.toFixed(2)} ms (p99), ${s.max.toFixed(2)} ms (max) behind the trace's schedule${flags.speed !== 1 ? ` at --speed ${flags.speed}` : ''}.\n`);
    }
    if (result.expectedHitRate !== null) {
      const { rate, from } = result.expectedHitRate;
      const got = result.metrics?.cache_hit_rate;
      const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
      const achieved = simulated ? 'the simulator does not model the prefix cache (its figures are for a cache that never hits)' : got === null || got === undefined ? 'the target did not report cached tokens' : `the replay got ${pct(got)}`;
      const expected = from === 'hash_ids' ? `the trace's hash_ids imply a hit rate of ${pct(rate)} (every block kept once seen)` : `the capture's engine had a hit rate of ${pct(rate)}`;
      this.say(`Prefix cache: ${expected}; ${achieved}.\n`);
    }
    // Stage timings can be compared only with a capture that has them.
    if (result.timings.captured.length) this.say('\n' + formatFidelity(result.fidelity, simulated ? 'simulated' : 'replayed', flags.tolerance ?? null, 'captured', flags['tolerance-floor']) + '\n');
    if (output) this.say(`\nThe replay's trace is in ${output}.\n`);
    if (flags.html) {
      const pick = (ts: typeof result.timings.captured): { e2e: number[]; ttft: number[] } => ({ e2e: ts.map((t) => t.e2eMs), ttft: ts.flatMap((t) => (t.ttftMs === null ? [] : [t.ttftMs])) });
      const label = result.mode === 'simulate' ? 'simulated' : 'replayed';
      writeFileSync(flags.html, await fidelityHtml(`sgl replay ${args.file}`, result.fidelity, pick(result.timings.captured), pick(result.timings.replayed), label));
    }
    const why = result.metrics && failureVerdict(result.metrics.failed, result.metrics.failed + result.metrics.completed, flags['max-failures']);
    if (why) this.error(why, { exit: 1 });
    if (result.beyondTolerance.length) {
      this.error(`${result.beyondTolerance.map((r) => r.name).join(', ')} drifted beyond the tolerance of ${((flags.tolerance ?? 0) * 100).toFixed(1)}% (and ${flags['tolerance-floor']} ms) at p50.`, { exit: 1 });
    }
    return result;
  }
}
