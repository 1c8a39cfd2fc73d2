import { engineFlags, engineOptions } from '../lib/cli/engine_flags.js';
import { withAnchorNames } from '../lib/cli/anchor_names.js';
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

  static override flags = withAnchorNames({
    ...engineFlags,
    ...tracingFlags(0),
    ...serverFlags,
  });

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
    const { serveBanner } = await import('../lib/report/serve_banner.js');
    this.log(serveBanner(url, engine, tracing, tracingSetup(flags), levelWhy, flags['enable-metrics']));
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
