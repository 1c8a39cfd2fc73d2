import { writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';

export default class TraceConvert extends SglCommand {
  static override summary = 'Convert a captured trace to OTLP JSON (what the OpenTelemetry Collector reads back) or a Perfetto file with flow arrows.';
  static override examples = ['<%= config.bin %> trace convert trace.json --to otlp-json', '<%= config.bin %> trace convert trace.json --to perfetto --output trace.perfetto.json', '<%= config.bin %> trace convert trace.json --to otlp-json -o - | jq .'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = {
    to: Flags.option({ options: ['otlp-json', 'perfetto'] as const, required: true, description: 'Output format.' })(),
    output: Flags.string({ char: 'o', description: 'Where to write: a file, or - for stdout (default: FILE with .otlp.json or .perfetto.json next to it).' }),
  };

  async run(): Promise<{ output: string; requests: number }> {
    const { args, flags } = await this.parse(TraceConvert);
    const { loadCapture } = await import('../../lib/tracing/trace_file/capture.js');
    const { requests, trace } = loadCapture(args.file, (m) => this.warn(m));
    const output = flags.output ?? `${args.file.replace(/\.json$/, '')}.${flags.to === 'otlp-json' ? 'otlp' : 'perfetto'}.json`;
    let data: string;
    if (flags.to === 'otlp-json') {
      const { otlpJson } = await import('../../lib/tracing/exporters/otlp_json.js');
      data = await otlpJson(requests);
    } else {
      const { perfettoWithFlows } = await import('../../lib/tracing/trace_file/perfetto_flows.js');
      data = perfettoWithFlows(trace);
    }
    // Data goes to stdout only with -o -; messages always go to stderr, so a redirect never catches them.
    if (output === '-') await new Promise<void>((done) => process.stdout.write(data, () => done()));
    else writeFileSync(output, data, { mode: 0o600 });
    if (!this.jsonEnabled()) process.stderr.write(`Wrote ${requests.length} requests to ${output === '-' ? 'stdout' : output}.\n`);
    return { output, requests: requests.length };
  }
}
