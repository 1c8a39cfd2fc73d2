import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';

export default class TraceExport extends SglCommand {
  static override summary = 'Send a captured trace to an OTLP collector, with its original timestamps and trace ids.';
  static override examples = ['<%= config.bin %> trace export trace.json --otlp-traces-endpoint http://localhost:4317'];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = {
    'otlp-traces-endpoint': Flags.string({ description: 'Collector URL (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or $OTEL_EXPORTER_OTLP_ENDPOINT).' }),
  };

  async run(): Promise<{ requests: number; dropped: number }> {
    const { args, flags } = await this.parse(TraceExport);
    const { loadCapture } = await import('../../lib/tracing/trace_file/capture.js');
    const { createOtlpExporter } = await import('../../lib/tracing/exporters/otlp_exporter.js');
    const { requests } = loadCapture(args.file, (m) => this.warn(m));
    const exporter = await createOtlpExporter(flags['otlp-traces-endpoint'], null);
    for (const r of requests) exporter.export(r);
    await exporter.shutdown();
    if (exporter.dropped) this.error(`${exporter.dropped} spans from ${args.file} were not delivered to ${exporter.destination}: ${[...exporter.dropReasons].slice(0, 3).join('; ') || 'no reason given'}.`, { exit: 1 });
    this.say(`Sent ${requests.length} requests from ${args.file} to ${exporter.destination}.\n`);
    return { requests: requests.length, dropped: exporter.dropped };
  }
}
