import { Flags } from '@oclif/core';
import { engineFlags, engineOptions } from '../lib/cli/engine_flags.js';
import { numberFlag } from '../lib/cli/number_flag.js';
import { SglCommand } from '../lib/cli/sgl_command.js';
import { tracingFlags, tracingFromFlags, tracingSetup } from '../lib/cli/tracing_flags.js';
import { serverFlags, serverOptions } from '../lib/cli/server_flags.js';
import { now } from '../lib/tracing/clock.js';
import { otlpTargets } from '../lib/tracing/tracing_setup.js';

export default class Serve extends SglCommand {
  static override summary = 'Serve the model over an OpenAI-compatible HTTP API, traced per request.';
  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --trace-level 2 --trace-file trace.json --enable-metrics',
    '<%= config.bin %> serve --port 8000 --api-key secret --otlp-traces-endpoint http://localhost:4317',
  ];

  static override flags = {
    ...engineFlags,
    ...tracingFlags(0),
    ...serverFlags,
    'drain-timeout': Flags.integer({
      min: 0,
      default: 30,
      description: 'Seconds from SIGTERM/SIGINT to exit: running requests finish and exporters flush within it.',
    }),
    'shutdown-delay': numberFlag({
      min: 0,
      default: 0,
      description:
        'Seconds after SIGTERM/SIGINT during which GET /ready answers 503 but requests are still accepted, so a load balancer that checks /ready stops sending before the listener closes; taken out of --drain-timeout.',
    }),
  };

  async run(): Promise<{ url: string; drained: boolean; droppedSpans: number }> {
    const { flags, raw } = await this.parse(Serve);
    // A collector with tracing off would receive nothing: without an explicit --trace-level, an OTLP endpoint turns on level 1.
    const otlp = otlpTargets(tracingSetup(flags)).traces;
    const levelGiven = raw.some((r) => r.type === 'flag' && r.flag === 'trace-level');
    const levelWhy = otlp && !levelGiven && flags['trace-level'] === 0 ? ' (turned on for the OTLP endpoint; --trace-level to choose)' : '';
    if (levelWhy) flags['trace-level'] = 1;
    const tracing = await tracingFromFlags(flags, { metrics: flags['enable-metrics'] });
    const { Engine } = await import('../lib/engine/engine.js');
    const { SglServer } = await import('../lib/server/sgl_server.js');
    const engine = await Engine.create({ ...engineOptions(flags), tracing });
    const server = new SglServer(engine, tracing, serverOptions(flags));
    // Listen for signals before announcing the address, so a signal sent on seeing it is never missed.
    const signal = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    let address;
    try {
      address = await server.listen();
    } catch (err) {
      await engine.shutdown();
      this.error(`Cannot listen on ${flags.host}:${flags.port}: ${(err as Error).message}. Pick another --port or --host.`, { exit: 1 });
    }
    const url = `http://${address.address}:${address.port}`;
    const tracingLine =
      flags['trace-level'] === 0
        ? 'off (raise it with POST /set_trace_level?level=N)'
        : `level ${flags['trace-level']}${levelWhy}, modules ${(flags['trace-module'] ?? ['request']).join(',')}, sample rate ${flags['trace-sample-rate']}`;
    const fromEnv = (what: 'traces' | 'metrics'): string =>
      otlpTargets(tracingSetup(flags))[what]?.from === 'environment' ? ' (from OTEL_EXPORTER_OTLP_*)' : '';
    const exporters = [
      ...(flags['trace-file'] ? [`trace file ${flags['trace-file']}`] : []),
      ...(otlp ? [`spans over OTLP ${otlp.protocol} to ${otlp.url}${fromEnv('traces')}`] : []),
      ...tracing.metricsDestinations.map((d) => `GenAI metrics to ${d}${fromEnv('metrics')}`),
    ];
    this.log(`sgl serve listening on ${url}`);
    this.log(
      `  model    ${engine.spec.id} (${engine.spec.dir}) on ${engine.device}${engine.info.deviceWhy ? ` (auto: ${engine.info.deviceWhy})` : ''}, ${engine.info.kvLayout} KV layout`,
    );
    this.log(`  tracing  ${tracingLine}`);
    this.log(`  export   ${exporters.length ? exporters.join('; ') : 'none'}`);
    if (flags['enable-metrics']) this.log(`  metrics  ${url}/metrics`);

    const got = await signal;
    // One deadline for the delay, the drain and the exporters' flush together: an orchestrator kills the process after it.
    const deadline = now() + flags['drain-timeout'] * 1000;
    server.drain();
    const delayMs = Math.min(flags['shutdown-delay'] * 1000, flags['drain-timeout'] * 1000);
    if (delayMs > 0) {
      this.log(`${got}: /ready answers 503; still accepting requests for ${delayMs / 1000} s ...`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    this.log(`${got}: draining ${server.running} running request(s), up to ${Math.max(0, (deadline - now()) / 1000).toFixed(0)} s ...`);
    const drained = await server.close(deadline - now());
    await engine.shutdown();
    const losses = await tracing.shutdown(deadline);
    for (const loss of losses) this.warn(`${loss.dropped} spans were dropped: ${loss.destination} did not take them in time.`);
    this.log(
      `${drained ? 'Drained' : 'Drain timeout: unfinished requests were cut off'}; trace file closed, exporters ${losses.length ? 'stopped at the deadline' : 'flushed'}. Bye.`,
    );
    // A collector that never answers leaves gRPC handles open; the deadline is the deadline.
    setTimeout(() => process.exit(), 200).unref();
    return { url, drained, droppedSpans: losses.reduce((n, l) => n + l.dropped, 0) };
  }
}
