import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { Distribution } from '../../lib/stats/distribution.js';
import type { CaptureSummary } from '../../lib/analysis/capture_summary.js';
import { printable } from '../../lib/report/terminal_text.js';

export default class TraceSummary extends SglCommand {
  static override summary = 'Per-stage statistics of a captured trace: count, mean, p50, p90, p99, share of request time; TTFT/TPOT/E2E; the slowest requests.';
  static override examples = ['<%= config.bin %> trace summary trace.json', '<%= config.bin %> trace summary trace.json --slowest 10 --json'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = { slowest: Flags.integer({ min: 0, default: 5, description: 'How many of the slowest requests to list.' }) };

  async run(): Promise<CaptureSummary> {
    const { args, flags } = await this.parse(TraceSummary);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { formatStageTable } = await import('../../lib/report/stage_table.js');
    const { summarizeCapture } = await import('../../lib/analysis/capture_summary.js');
    const { summary, joined } = summarizeCapture(new Capture(args.file, (m) => this.warn(m)), flags.slowest);
    const merged = summary.serverOnly !== undefined;
    const serverOnly = summary.serverOnly ?? 0;
    const d = (name: string, x: Distribution): string =>
      `${name.padEnd(5)} mean ${x.mean.toFixed(2)}  p50 ${x.median.toFixed(2)}  p90 ${x.p90.toFixed(2)}  p99 ${x.p99.toFixed(2)} ms`;
    this.say(
      `${args.file}: ${summary.requests} requests${merged ? ` (the client's; ${serverOnly} more that only a server saw count in the stage table alone)` : ''}\n`,
    );
    // Tail-sampled captures hold the requests the rules picked: their statistics describe those, not the workload.
    if (summary.keptBy)
      this.say(
        `A biased sample: only requests kept by --trace-keep ${summary.keptBy.join(',')} were written; the figures below describe them, not the whole workload (the metrics count every request).\n`,
      );
    this.say(`\n${formatStageTable(summary.stages)}\n\n`);
    this.say([d('TTFT', summary.ttft_ms), d('TPOT', summary.tpot_ms), d('E2E', summary.e2e_latency_ms)].join('\n') + '\n');
    if (joined.length) {
      const { formatEndToEnd } = await import('../../lib/report/end_to_end_table.js');
      this.say(
        `\nWhere the client's time went (${joined.length} requests joined to their server side):\n${formatEndToEnd(joined, summary.endToEnd!.slowest)}\n`,
      );
    }
    if (summary.slowest.length)
      this.say(
        '\nSlowest requests:\n' + summary.slowest.map((s) => `  ${printable(s.rid)}  ${s.e2eMs.toFixed(1)} ms, ${s.outputTokens} tokens`).join('\n') + '\n',
      );
    return summary;
  }
}
