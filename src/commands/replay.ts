import { writeFileSync } from 'node:fs';
import { Args } from '@oclif/core';
import { engineFlags, engineOptions } from '../lib/cli/engine_flags.js';
import { failureVerdict } from '../lib/cli/bench_flags.js';
import { withAnchorNames } from '../lib/cli/anchor_names.js';
import { SglCommand } from '../lib/cli/sgl_command.js';
import { replayFlags, replayOptions } from '../lib/cli/replay_flags.js';
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

  static override flags = withAnchorNames({
    ...replayEngineFlags,
    ...targetFlags,
    ...replayFlags,
  });

  async run(): Promise<ReplayResult> {
    const { args, flags } = await this.parse(Replay);
    const { runReplay } = await import('../lib/replay/run_replay.js');
    const options = replayOptions(args.file, flags, engineOptions(flags));
    const result = await runReplay(options);
    for (const w of result.warnings) this.warn(printable(w));
    if (result.truncated) this.warn(`${args.file} was cut short; replaying the ${result.requests} requests it holds in full.`);
    const { formatReplay, replayHtml } = await import('../lib/report/replay_report.js');
    this.say(formatReplay(result, options));
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
