import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';

export default class TraceView extends SglCommand {
  static override summary =
    'Write a self-contained HTML page for a capture: a timeline of requests and stages (zoom and pan on the time axis, details on hover), and the summary table.';
  static override examples = ['<%= config.bin %> trace view trace.json', '<%= config.bin %> trace view trace.json --output report.html'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'Where to write the page: a file, or - for stdout (default: FILE with .html next to it).' }),
  };

  async run(): Promise<{ output: string; requests: number; bytes: number }> {
    const { args, flags } = await this.parse(TraceView);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { TraceView: View } = await import('../../lib/report/trace_view.js');
    const { writeOutput } = await import('../../lib/output_file.js');
    const view = new View();
    for (const r of new Capture(args.file, (m) => this.warn(m)).requests()) view.add(r);
    const output = flags.output ?? `${args.file.replace(/\.json$/, '')}.html`;
    const page = view.html(`sgl trace ${args.file}`);
    await writeOutput(output, [page]);
    const bytes = Buffer.byteLength(page);
    if (!this.jsonEnabled())
      process.stderr.write(
        `Wrote ${output === '-' ? 'the page to stdout' : output}: ${view.count} requests, ${(bytes / 1e6).toFixed(1)} MB. Open it in a browser; it needs no network.\n`,
      );
    return { output, requests: view.count, bytes };
  }
}
