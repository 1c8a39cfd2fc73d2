import type { Worker } from 'node:worker_threads';
import { SglError } from '../../errors.js';
import { startThread } from '../../thread.js';
import { now } from '../clock.js';
import type { FinishedRequest } from '../finished_request.js';
import type { EngineMetrics } from '../metrics.js';
import type { OtlpTarget } from '../otlp_config.js';
import { serviceInstanceId } from '../otel_resource.js';
import type { TraceExporter } from '../tracing.js';
import type { SpanBatchOptions } from './otlp_exporter.js';

/** What the exporter thread starts with. */
export interface OtlpThreadData {
  target: OtlpTarget;
  options: Omit<SpanBatchOptions, 'onDrop'>;
  timeOrigin: number;
  /** The process's service.instance.id, which the thread's resource carries too. */
  instanceId: string;
}

export type ToOtlpThread = { type: 'export'; req: FinishedRequest } | { type: 'flush'; id: number } | { type: 'shutdown'; id: number; deadline: number };
export type FromOtlpThread =
  { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'dropped'; count: number; why: string } | { type: 'done'; id: number; sent: number };

/** How long past its deadline a shutdown waits for the thread to answer before ending it. */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * The live OTLP span export, run on a thread of its own: building spans and
 * serializing protobuf or JSON batches is CPU work that would otherwise sit
 * on the main event loop between other requests' tokenization and dispatch
 * (measured by bench/overhead.ts). Here a finished request costs the main
 * thread one structured-clone postMessage. Drops are reported back, counted
 * in sgl:dropped_spans_total and warned about once, as the in-process
 * exporter does.
 */
export class OtlpThreadExporter implements TraceExporter {
  dropped = 0;
  sent = 0;
  readonly dropReasons = new Set<string>();
  private warned = false;
  private nextId = 0;
  private readonly waiting = new Map<number, () => void>();
  private closed = false;

  private constructor(
    private readonly thread: Worker,
    private readonly metrics: EngineMetrics | null,
    readonly destination: string,
  ) {
    thread.on('message', (msg: FromOtlpThread) => this.onMessage(msg));
    // It never keeps the process alive; shutdown() is what waits for it.
    thread.unref();
  }

  static async start(target: OtlpTarget, metrics: EngineMetrics | null, options: Omit<SpanBatchOptions, 'onDrop'> = {}): Promise<OtlpThreadExporter> {
    const data: OtlpThreadData = { target, options, timeOrigin: performance.timeOrigin, instanceId: serviceInstanceId() };
    const thread = startThread(import.meta.url, 'otlp_thread', data);
    await new Promise<void>((resolve, reject) => {
      const first = (msg: FromOtlpThread): void => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'fatal') reject(new SglError(msg.message));
      };
      thread.once('message', first);
      thread.once('error', (err) => reject(new SglError(`The OTLP exporter thread failed to start: ${err.message}`)));
    }).catch(async (err: unknown) => {
      await thread.terminate();
      throw err;
    });
    return new OtlpThreadExporter(thread, metrics, `the OTLP collector at ${target.url} (${target.protocol})`);
  }

  export(req: FinishedRequest): void {
    if (!this.closed) this.thread.postMessage({ type: 'export', req } satisfies ToOtlpThread);
  }

  flush(): Promise<void> {
    return this.ask((id) => ({ type: 'flush', id }));
  }

  /** Flushes until `deadline` (clock ms) in the thread, which counts what it could not deliver as dropped; then the thread ends. */
  async shutdown(deadline = Infinity): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    const late =
      deadline === Infinity ? null : new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - now()) + SHUTDOWN_GRACE_MS)));
    const done = this.ask((id) => ({ type: 'shutdown', id, deadline }));
    this.closed = true;
    await (late ? Promise.race([done, late]) : done);
    clearTimeout(timer);
    await this.thread.terminate();
  }

  private ask(message: (id: number) => ToOtlpThread): Promise<void> {
    if (this.closed) return Promise.resolve();
    const id = this.nextId++;
    // Held while an answer is awaited, so the process does not end under it.
    this.thread.ref();
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve);
      this.thread.postMessage(message(id));
    });
  }

  private onMessage(msg: FromOtlpThread): void {
    if (msg.type === 'dropped') {
      this.dropped += msg.count;
      this.dropReasons.add(msg.why);
      if (this.metrics) this.metrics.droppedSpans += msg.count;
      if (!this.warned) {
        this.warned = true;
        process.emitWarning(`sgl: spans to ${this.destination} are being dropped (${msg.why}); work goes on, drops are counted in sgl:dropped_spans_total.`);
      }
    } else if (msg.type === 'done') {
      this.sent = msg.sent;
      this.waiting.get(msg.id)?.();
      this.waiting.delete(msg.id);
      if (this.waiting.size === 0) this.thread.unref();
    }
  }
}
