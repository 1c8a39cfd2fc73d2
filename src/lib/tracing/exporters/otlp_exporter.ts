import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SglError } from '../../errors.js';
import { now } from '../clock.js';
import type { OtlpProtocol, OtlpTarget } from '../otlp_config.js';
import { otelResource } from '../otel_resource.js';
import type { FinishedRequest } from '../finished_request.js';
import type { EngineMetrics } from '../metrics.js';
import type { TraceExporter } from '../tracing.js';
import { requestSpans } from './otel_spans.js';

export interface SpanBatchOptions {
  /** Spans held while the collector is slow; beyond this they are dropped and counted. */
  maxQueue?: number;
  maxBatch?: number;
  intervalMs?: number;
  /** How long one export may take before it counts as failed. */
  timeoutMs?: number;
  /** Reports drops to the owner instead of counting them in the metrics and warning here (the exporter thread). */
  onDrop?: (count: number, why: string) => void;
}

/**
 * Sends finished requests as OpenTelemetry spans through any SpanExporter
 * (OTLP gRPC in production, in-memory in tests), batched on a timer that
 * never keeps the process alive. A slow or unreachable collector never
 * blocks a request: overflow and failed exports are counted as dropped
 * spans, and the first failure is reported once.
 */
export class OtelTraceExporter implements TraceExporter {
  private queue: ReadableSpan[] = [];
  private inFlight: Promise<void> | null = null;
  private inFlightSpans = 0;
  /** Set when shutdown gave up on the collector: late answers no longer count. */
  private abandoned = false;
  private readonly timer: NodeJS.Timeout;
  private warned = false;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly onDrop: ((count: number, why: string) => void) | undefined;
  dropped = 0;
  /** Spans the collector accepted. */
  sent = 0;
  /** The transport's reasons for drops, as it gave them (connection refused, deadline exceeded, ...). */
  readonly dropReasons = new Set<string>();

  constructor(
    private readonly exporter: SpanExporter,
    private readonly resource: Resource,
    private readonly metrics: EngineMetrics | null,
    readonly destination: string,
    options: SpanBatchOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 65536;
    this.maxBatch = options.maxBatch ?? 1024;
    this.onDrop = options.onDrop;
    this.timer = setInterval(() => void this.send(), options.intervalMs ?? 1000);
    this.timer.unref();
  }

  export(req: FinishedRequest): void {
    const spans = requestSpans(req, this.resource);
    const room = this.maxQueue - this.queue.length;
    if (spans.length > room) {
      this.drop(spans.length - room, `the span queue is full (${this.maxQueue} spans)`);
      spans.length = Math.max(0, room);
    }
    for (const s of spans) this.queue.push(s);
    if (this.queue.length >= this.maxBatch) void this.send();
  }

  /**
   * Offline export (a capture sent later): waits while the queue is full
   * instead of dropping, so every span is delivered at the pace the
   * collector takes them, in the order the requests are given. Only a
   * failed export loses spans, and those are counted as dropped.
   */
  async exportAll(req: FinishedRequest): Promise<void> {
    const spans = requestSpans(req, this.resource);
    while (this.queue.length > 0 && this.queue.length + spans.length > this.maxQueue) await this.send();
    for (const s of spans) this.queue.push(s);
    if (this.queue.length >= this.maxBatch) void this.send();
  }

  private send(): Promise<void> {
    if (this.inFlight || this.queue.length === 0) return this.inFlight ?? Promise.resolve();
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlightSpans = batch.length;
    this.inFlight = new Promise<void>((resolve) => {
      this.exporter.export(batch, (result) => {
        if (result.code === 0) this.sent += batch.length;
        else if (!this.abandoned) this.drop(batch.length, result.error?.message ?? 'export failed');
        resolve();
      });
    }).finally(() => {
      this.inFlight = null;
      this.inFlightSpans = 0;
    });
    return this.inFlight;
  }

  private drop(count: number, why: string): void {
    this.dropped += count;
    this.dropReasons.add(why);
    if (this.onDrop) return this.onDrop(count, why);
    if (this.metrics) this.metrics.droppedSpans += count;
    if (!this.warned) {
      this.warned = true;
      process.emitWarning(`sgl: spans to ${this.destination} are being dropped (${why}); work goes on, drops are counted in sgl:dropped_spans_total.`);
    }
  }

  async flush(): Promise<void> {
    while (this.inFlight || this.queue.length) await this.send();
    await this.exporter.forceFlush?.();
  }

  /** Flushes until `deadline` (clock ms); what is still queued or in flight then is dropped and counted. */
  async shutdown(deadline = Infinity): Promise<void> {
    clearInterval(this.timer);
    if (!(await settlesBy(this.flush(), deadline))) {
      this.abandoned = true;
      this.drop(this.queue.length + this.inFlightSpans, 'the collector did not take them before the shutdown deadline');
      this.queue = [];
    }
    await settlesBy(this.exporter.shutdown(), deadline);
  }
}

/** Whether `work` settles before `deadline` (clock ms); it is left running if not. */
async function settlesBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  if (deadline === Infinity) {
    await work;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - now()))));
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

type SpanExporterClass = new (config: { url: string; timeoutMillis: number }) => SpanExporter;

/** The official OTLP span exporter per protocol, each loaded only when asked for. */
const SPAN_EXPORTERS: Record<OtlpProtocol, { pkg: string; load: () => Promise<{ OTLPTraceExporter: SpanExporterClass }> }> = {
  grpc: { pkg: '@opentelemetry/exporter-trace-otlp-grpc', load: () => import('@opentelemetry/exporter-trace-otlp-grpc') },
  'http/protobuf': { pkg: '@opentelemetry/exporter-trace-otlp-proto', load: () => import('@opentelemetry/exporter-trace-otlp-proto') },
  'http/json': { pkg: '@opentelemetry/exporter-trace-otlp-http', load: () => import('@opentelemetry/exporter-trace-otlp-http') },
};

/** Loads an optional OpenTelemetry package, or says which to install. */
export async function loadOtelPackage<T>(pkg: string, load: () => Promise<T>, what: string): Promise<{ module: T; resource: Resource }> {
  try {
    const [module, resources] = await Promise.all([load(), import('@opentelemetry/resources')]);
    return { module, resource: otelResource(resources) };
  } catch (err) {
    throw new SglError(
      `${what} needs ${pkg} and @opentelemetry/resources, which could not be loaded (${(err as Error).message}). Install them with: npm install ${pkg} @opentelemetry/resources`,
    );
  }
}

/** The OTLP span exporter for a target (see otlp_config.ts), loaded only when asked for. */
export async function createOtlpExporter(target: OtlpTarget, metrics: EngineMetrics | null, options?: SpanBatchOptions): Promise<OtelTraceExporter> {
  const { pkg, load } = SPAN_EXPORTERS[target.protocol];
  const { module, resource } = await loadOtelPackage(pkg, load, `OTLP ${target.protocol} export`);
  const exporter = new module.OTLPTraceExporter({ url: target.url, timeoutMillis: options?.timeoutMs ?? 10000 });
  return new OtelTraceExporter(exporter, resource, metrics, `the OTLP collector at ${target.url} (${target.protocol})`, options);
}
