import { writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';

export default class TraceView extends SglCommand {
  static override summary = 'Write a self-contained HTML page for a capture: a zoomable timeline of requests and stages, and the summary table.';
  static override examples = ['<%= config.bin %> trace view trace.json', '<%= config.bin %> trace view trace.json --output report.html'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = { output: Flags.string({ char: 'o', description: 'Where to write the page: a file, or - for stdout (default: FILE with .html next to it).' }) };

  async run(): Promise<{ output: string; requests: number }> {
    const { args, flags } = await this.parse(TraceView);
    const { openCapture } = await import('../../lib/tracing/trace_file/capture.js');
    const { traceViewHtml } = await import('../../lib/report/trace_view.js');
    const requests = Array.from(openCapture(args.file, (m) => this.warn(m)).requests());
    const output = flags.output ?? `${args.file.replace(/\.json$/, '')}.html`;
    const page = traceViewHtml(`sgl trace ${args.file}`, requests);
    if (output === '-') await new Promise<void>((done) => process.stdout.write(page, () => done()));
    else writeFileSync(output, page, { mode: 0o600 });
    if (!this.jsonEnabled()) process.stderr.write(`Wrote ${output === '-' ? 'the page to stdout' : output}: ${requests.length} requests. Open it in a browser; it needs no network.\n`);
    return { output, requests: requests.length };
  }
}
