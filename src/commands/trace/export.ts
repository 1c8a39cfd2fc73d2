import { Args } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import { otlpFlags } from '../../lib/cli/tracing_flags.js';
import { otlpTarget } from '../../lib/tracing/otlp_config.js';

export default class TraceExport extends SglCommand {
  static override summary = 'Send a captured trace to an OTLP collector, with its original timestamps and trace ids.';
  static override examples = [
    '<%= config.bin %> trace export trace.json --otlp-traces-endpoint http://localhost:4317',
    '<%= config.bin %> trace export trace.json --otlp-traces-endpoint http://localhost:4318/v1/traces --otlp-protocol http/protobuf',
  ];
  static override args = { file: Args.string({ required: true, description: 'A trace file written with --trace-file.' }) };
  static override flags = otlpFlags();

  async run(): Promise<{ requests: number; spans: number; dropped: number }> {
    const { args, flags } = await this.parse(TraceExport);
    const { Capture } = await import('../../lib/tracing/trace_file/capture.js');
    const { createOtlpExporter } = await import('../../lib/tracing/exporters/otlp_exporter.js');
    const capture = new Capture(args.file, (m) => this.warn(m));
    const protocol = flags['otlp-protocol'];
    // Nothing named: the local collector's default port for the protocol.
    const target =
      otlpTarget('traces', { endpoint: flags['otlp-traces-endpoint'], protocol }) ??
      otlpTarget('traces', { endpoint: protocol && protocol !== 'grpc' ? 'http://localhost:4318' : 'http://localhost:4317', protocol })!;
    const exporter = await createOtlpExporter(target, null);
    // The file streams through a bounded queue: reading waits for the collector, nothing is dropped for lack of room.
    // A collector that refuses or times out one batch would do the same to the rest: stop at the first loss.
    for (const r of capture.requests()) {
      await exporter.exportAll(r);
      if (exporter.dropped) break;
    }
    await exporter.shutdown();
    const requests = capture.count;
    if (exporter.dropped) {
      const why = [...exporter.dropReasons].slice(0, 3).join('; ') || 'no reason given';
      this.error(
        `${exporter.dropped} spans from ${args.file} were not delivered to ${exporter.destination}: ${why}. Export stopped after ${requests} requests (${exporter.sent} spans delivered); check the collector and run it again.`,
        { exit: 1 },
      );
    }
    this.say(`Sent ${requests} requests (${exporter.sent} spans) from ${args.file} to ${exporter.destination}.\n`);
    return { requests, spans: exporter.sent, dropped: exporter.dropped };
  }
}
