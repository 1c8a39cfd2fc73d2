import { Args } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { FidelityReport } from '../../lib/replay/fidelity.js';

export default class TraceDiff extends SglCommand {
  static override summary = 'Stage by stage, the change in p50/p90/p99 between two captures.';
  static override examples = ['<%= config.bin %> trace diff before.json after.json'];
  static override args = {
    a: Args.string({ required: true, description: 'The baseline trace file.' }),
    b: Args.string({ required: true, description: 'The trace file to compare with it.' }),
  };

  async run(): Promise<FidelityReport> {
    const { args } = await this.parse(TraceDiff);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { compareTimings, fromRecord } = await import('../../lib/replay/fidelity.js');
    const { formatFidelity } = await import('../../lib/report/fidelity_report.js');
    const warn = (m: string): void => {
      this.warn(m);
    };
    const timings = (path: string) => Array.from(new Capture(path, warn).requests(), (r) => fromRecord(r.workload));
    const a = timings(args.a);
    const b = timings(args.b);
    const report = compareTimings(a, b);
    this.say(formatFidelity(report, 'B', null, 'A') + '\n');
    return report;
  }
}
