import { writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { engineFlags, engineOptions } from '../lib/cli/engine_flags.js';
import { failureVerdict, maxFailuresFlag } from '../lib/cli/bench_flags.js';
import { numberFlag } from '../lib/cli/number_flag.js';
import { timeWindowFlag, toleranceFlag } from '../lib/cli/replay_flags.js';
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

  static override args = {
    file: Args.string({
      required: true,
      description:
        'A workload file, its format detected from its first lines: an sgl trace, ShareGPT JSON, Mooncake JSONL, Azure LLM inference CSV or BurstGPT CSV.',
    }),
  };

  static override flags = {
    ...replayEngineFlags,
    ...targetFlags,
    speed: numberFlag({ min: 0, exclusiveMin: true, default: 1, description: 'Time scale: 2 halves the gaps between arrivals.' }),
    limit: Flags.integer({ min: 1, description: 'Replay only the first N requests.' }),
    'time-window': timeWindowFlag,
    output: Flags.string({
      description:
        "The replay's own trace file (default: FILE with .replay.json, for sgl trace captures replayed in-process). With --url it holds the client's side of each request, under the trace ids the server continues.",
    }),
    html: Flags.string({ description: 'Write a self-contained HTML report (fidelity table, latency CDFs) to this file.' }),
    tolerance: toleranceFlag,
    'tolerance-floor': numberFlag({
      min: 0,
      default: 0.5,
      description: 'Milliseconds of p50 a drift must also exceed to fail --tolerance: below it, sub-millisecond stages differ by timer noise alone.',
    }),
    simulate: Flags.boolean({
      description: 'Predict timings without running the model, from models fitted to the capture (or to --profile).',
      exclusive: ['url'],
    }),
    profile: Flags.string({
      description:
        'With --simulate: an sgl trace of this model and engine to fit the timing models on, so any workload (a public trace too) can be simulated at full scale. Captured at trace level 3 with the scheduler and engine modules, decode steps are fitted one by one.',
      dependsOn: ['simulate'],
    }),
    'fit-context': Flags.option({
      options: ['scale', 'clip', 'skip'] as const,
      default: 'scale' as const,
      description:
        "How a public trace's requests are made to fit the model: scale every length by one factor (keeps the shape of the length distribution), clip only those that do not fit, or skip them. Rows with zero input or output tokens are always skipped and counted.",
    })(),
    'max-failures': maxFailuresFlag,
    seed: Flags.integer({ min: 0, default: 1, description: 'Seed for token ids of requests captured without content.' }),
    warmup: Flags.integer({
      min: 0,
      description:
        "Copies of the first requests sent first, not measured, under ids warmup-… (default: 2 in-process; none with --url, so a server sees exactly the capture's requests).",
    }),
  };

  async run(): Promise<ReplayResult> {
    const { args, flags } = await this.parse(Replay);
    const { runReplay } = await import('../lib/replay/run_replay.js');
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
    if (result.truncated) this.warn(`${args.file} was cut short; replaying the ${result.requests} requests it holds in full.`);
    const { formatReplay, replayHtml } = await import('../lib/report/replay_report.js');
    this.say(
      formatReplay(result, {
        file: args.file,
        urls: flags.url ?? null,
        speed: flags.speed,
        tolerance: flags.tolerance ?? null,
        toleranceFloorMs: flags['tolerance-floor'],
        output: output ?? null,
      }),
    );
    if (flags.html) writeFileSync(flags.html, await replayHtml(result, args.file));
    const why = result.metrics && failureVerdict(result.metrics.failed, result.metrics.failed + result.metrics.completed, flags['max-failures']);
    if (why) this.error(why, { exit: 1 });
    if (result.beyondTolerance.length) {
      this.error(
        `${result.beyondTolerance.map((r) => r.name).join(', ')} drifted beyond the tolerance of ${((flags.tolerance ?? 0) * 100).toFixed(1)}% (and ${flags['tolerance-floor']} ms) at p50.`,
        { exit: 1 },
      );
    }
    return result;
  }
}
