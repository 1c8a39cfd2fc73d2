import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { FinishedRequest as Request } from '../../lib/tracing/finished_request.js';

export default class TraceShow extends SglCommand {
  static override summary = 'Terminal waterfalls of captured requests: bars scaled to time, coloured per stage.';
  static override examples = ['<%= config.bin %> trace show trace.json --slowest 3', '<%= config.bin %> trace show trace.json --request 7febf90d8c44'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = {
    request: Flags.string({ multiple: true, description: 'Request id to show (repeatable).', exclusive: ['slowest'] }),
    slowest: Flags.integer({ min: 1, default: 3, description: 'Show the N slowest requests.' }),
  };

  async run(): Promise<{ shown: string[] }> {
    const { args, flags } = await this.parse(TraceShow);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { formatWaterfall } = await import('../../lib/report/waterfall.js');
    const { SglError } = await import('../../lib/errors.js');
    const { Slowest } = await import('../../lib/stats/slowest.js');
    const capture = new Capture(args.file, (m) => this.warn(m));
    let chosen: Request[];
    if (flags.request) {
      const ids = flags.request;
      const found = new Map<string, Request>();
      for (const r of capture.requests()) {
        for (const id of ids) if (!found.has(id) && (r.rid === id || r.rid.startsWith(id))) found.set(id, r);
        if (found.size === ids.length) break;
      }
      chosen = ids.map(
        (id) =>
          found.get(id) ??
          (() => {
            throw new SglError(`No request ${id} in ${args.file}; \`sgl trace summary ${args.file}\` lists the slowest ones.`);
          })(),
      );
    } else {
      const slowest = new Slowest<Request>(flags.slowest);
      for (const r of capture.requests()) slowest.offer(r.end - r.start, () => r);
      chosen = slowest.items();
    }
    const width = Math.max(20, Math.min(120, (process.stdout.columns ?? 100) - 50));
    this.say(chosen.map((r) => formatWaterfall(r, width)).join('\n\n') + '\n');
    return { shown: chosen.map((r) => r.rid) };
  }
}
