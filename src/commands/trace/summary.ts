import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { Distribution } from '../../lib/stats/distribution.js';
import type { StageSummary } from '../../lib/analysis/stage_summary.js';
import type { EndToEnd } from '../../lib/analysis/end_to_end.js';
import { printable } from '../../lib/report/terminal_text.js';

interface Summary {
  requests: number;
  stages: StageSummary[];
  ttft_ms: Distribution;
  tpot_ms: Distribution;
  e2e_latency_ms: Distribution;
  slowest: { rid: string; e2eMs: number; outputTokens: number }[];
  /** The --trace-keep rules that chose which requests the file holds (absent: it holds every recorded request). */
  keptBy?: string[];
  /** A merged capture: requests a server saw without the client (they count in the stage table, not in the figures above it). */
  serverOnly?: number;
  /** A merged capture: where the client's time went, over the requests joined to their server side, and the slowest of them. */
  endToEnd?: { joined: number; networkMs: Distribution; slowest: EndToEnd[] };
}

export default class TraceSummary extends SglCommand {
  static override summary = 'Per-stage statistics of a captured trace: count, mean, p50, p90, p99, share of request time; TTFT/TPOT/E2E; the slowest requests.';
  static override examples = ['<%= config.bin %> trace summary trace.json', '<%= config.bin %> trace summary trace.json --slowest 10 --json'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = { slowest: Flags.integer({ min: 0, default: 5, description: 'How many of the slowest requests to list.' }) };

  async run(): Promise<Summary> {
    const { args, flags } = await this.parse(TraceSummary);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { formatStageTable } = await import('../../lib/report/stage_table.js');
    const { StageSummarizer } = await import('../../lib/analysis/stage_summary.js');
    const { distribution, tpotMs } = await import('../../lib/stats/distribution.js');
    const { Slowest } = await import('../../lib/stats/slowest.js');
    const capture = new Capture(args.file, (m) => this.warn(m));
    // One pass over the file, keeping numbers per request and nothing else.
    const stages = new StageSummarizer();
    const ttft: number[] = [];
    const tpot: number[] = [];
    const e2e: number[] = [];
    const slowest = new Slowest<Summary['slowest'][number]>(flags.slowest);
    const { endToEnd } = await import('../../lib/analysis/end_to_end.js');
    // A merged capture: per joined request, its client time split into network/HTTP and the server's stages (a few numbers each).
    const joined: EndToEnd[] = [];
    const slowestJoined = new Slowest<EndToEnd>(flags.slowest);
    // In a merged capture the headline figures are the client's: requests a server saw without this client (its warm-ups, other clients) are counted apart.
    // (The header is read with the first line, so it is looked at once requests come.)
    const isMerged = (): boolean => capture.reader.header?.merged !== undefined;
    let serverOnly = 0;
    for (const r of capture.requests()) {
      const w = r.workload;
      stages.add(r);
      const split = endToEnd(r);
      if (split) {
        joined.push(split);
        slowestJoined.offer(split.clientE2eMs, () => split);
      }
      if (!r.client && isMerged()) {
        serverOnly++;
        continue;
      }
      if (w.ttftMs !== null) ttft.push(w.ttftMs);
      const t = tpotMs(w);
      if (t !== null) tpot.push(t);
      e2e.push(w.e2eMs);
      slowest.offer(w.e2eMs, () => ({ rid: w.rid, e2eMs: w.e2eMs, outputTokens: w.outputTokens }));
    }
    const merged = isMerged();
    const summary: Summary = {
      requests: capture.count - serverOnly,
      stages: stages.result(),
      ttft_ms: distribution(ttft),
      tpot_ms: distribution(tpot),
      e2e_latency_ms: distribution(e2e),
      slowest: slowest.items(),
    };
    const keep = capture.reader.header?.trace.keep;
    if (keep?.length) summary.keptBy = keep;
    if (joined.length) summary.endToEnd = { joined: joined.length, networkMs: distribution(joined.map((j) => j.networkMs)), slowest: slowestJoined.items() };
    if (merged) summary.serverOnly = serverOnly;
    const d = (name: string, x: Distribution): string => `${name.padEnd(5)} mean ${x.mean.toFixed(2)}  p50 ${x.median.toFixed(2)}  p90 ${x.p90.toFixed(2)}  p99 ${x.p99.toFixed(2)} ms`;
    this.say(`${args.file}: ${summary.requests} requests${merged ? ` (the client's; ${serverOnly} more that only a server saw count in the stage table alone)` : ''}\n`);
    // Tail-sampled captures hold the requests the rules picked: their statistics describe those, not the workload.
    if (summary.keptBy) this.say(`A biased sample: only requests kept by --trace-keep ${summary.keptBy.join(',')} were written; the figures below describe them, not the whole workload (the metrics count every request).\n`);
    this.say(`\n${formatStageTable(summary.stages)}\n\n`);
    this.say([d('TTFT', summary.ttft_ms), d('TPOT', summary.tpot_ms), d('E2E', summary.e2e_latency_ms)].join('\n') + '\n');
    if (joined.length) {
      const { formatEndToEnd } = await import('../../lib/report/end_to_end_table.js');
      this.say(`\nWhere the client's time went (${joined.length} requests joined to their server side):\n${formatEndToEnd(joined, summary.endToEnd!.slowest)}\n`);
    }
    if (summary.slowest.length) this.say('\nSlowest requests:\n' + summary.slowest.map((s) => `  ${printable(s.rid)}  ${s.e2eMs.toFixed(1)} ms, ${s.outputTokens} tokens`).join('\n') + '\n');
    return summary;
  }
}
