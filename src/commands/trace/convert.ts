import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';

export default class TraceConvert extends SglCommand {
  static override summary = 'Convert a captured trace to OTLP JSON (what the OpenTelemetry Collector reads back) or a Perfetto file with flow arrows.';
  static override description =
    "Both stream: a capture of any size converts in memory of a few requests. OTLP JSON is written as JSON Lines, one ExportTraceServiceRequest per 1,000 requests (the form the Collector's otlpjsonfile receiver reads); up to 1,000 requests it is a single JSON document.";
  static override examples = [
    '<%= config.bin %> trace convert trace.json --to otlp-json',
    '<%= config.bin %> trace convert trace.json --to perfetto --output trace.perfetto.json',
    '<%= config.bin %> trace convert trace.json --to otlp-json -o - | jq .',
  ];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = {
    to: Flags.option({ options: ['otlp-json', 'perfetto'] as const, required: true, description: 'Output format.' })(),
    output: Flags.string({ char: 'o', description: 'Where to write: a file, or - for stdout (default: FILE with .otlp.json or .perfetto.json next to it).' }),
  };

  async run(): Promise<{ output: string; requests: number }> {
    const { args, flags } = await this.parse(TraceConvert);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { writeOutput } = await import('../../lib/output_file.js');
    const capture = new Capture(args.file, (m) => this.warn(m));
    const output = flags.output ?? `${args.file.replace(/\.json$/, '')}.${flags.to === 'otlp-json' ? 'otlp' : 'perfetto'}.json`;
    // Data goes to stdout only with -o -; messages always go to stderr, so a redirect never catches them.
    if (flags.to === 'otlp-json') {
      const { otlpJsonLines } = await import('../../lib/tracing/exporters/otlp_json.js');
      await writeOutput(output, otlpJsonLines(capture.requests()));
    } else {
      const { perfettoWithFlows } = await import('../../lib/tracing/trace_file/perfetto_flows.js');
      await writeOutput(output, perfettoWithFlows(capture.events()));
    }
    if (!this.jsonEnabled()) process.stderr.write(`Wrote ${capture.count} requests to ${output === '-' ? 'stdout' : output}.\n`);
    return { output, requests: capture.count };
  }
}
