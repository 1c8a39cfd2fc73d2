import { hostname } from 'node:os';
import type { SpanParent } from './traceparent.js';
import { now, toEpochMs } from './clock.js';
import { NULL_CLIENT_TRACE, RecordingClientTrace } from './client_trace.js';
import type { ClientRequestTrace } from './client_trace.js';
import { serviceInstanceId } from './otel_resource.js';
import type { FinishedRequest } from './finished_request.js';
import type { MergedCapture } from './trace_file/format.js';
import { TailSampler } from './keep_rules.js';
import type { KeepRule } from './keep_rules.js';
import { EngineMetrics } from './metrics.js';
import { NULL_REQUEST_TRACE, RecordingRequestTrace } from './request_trace.js';
import type { FinishSink, RequestTrace } from './request_trace.js';
import { DEFAULT_TRACE_CONFIG, traceMask } from './trace_config.js';
import type { TraceConfig, TraceLevel } from './trace_config.js';

/** What the trace header says about the run. */
export interface TraceHeader {
  tool: 'sgl';
  version: string;
  /** Epoch ms of the capture's start. */
  startedAt: number;
  /** Epoch ms of the file's timestamp 0 (the process's clock origin): what `sgl trace merge` aligns captures by. */
  timeOrigin?: number;
  /** The machine that made the capture (captures from one machine share its wall clock). */
  host?: string;
  /** The process's service.instance.id, as on its spans and metrics. */
  instanceId?: string;
  /** Whose side of the requests the file holds: a client's (sgl bench or replay with --url), or (absent) the engine's. */
  role?: 'client';
  /** A file made by `sgl trace merge`: the captures it joins (the header is the client's, else the first capture's). */
  merged?: { captures: MergedCapture[] };
  model: { id: string; dir: string; sha256?: string };
  device: string;
  engine: Record<string, unknown>;
  trace: { level: TraceLevel; modules: readonly string[]; sampleRate: number; includeContent: boolean; keep?: string[] };
}

/** A destination for finished requests: the trace file, OTLP, an in-memory list in tests. */
export interface TraceExporter {
  start?(header: TraceHeader): void | Promise<void>;
  export(req: FinishedRequest): void;
  /** Waits until everything exported so far is delivered (or given up on). */
  flush(): Promise<void>;
  /**
   * Delivers what it holds and closes. A remote exporter stops waiting at
   * `deadline` (clock ms) and counts what it still held as dropped; a local
   * one (the trace file) finishes regardless, without waiting on the others.
   */
  shutdown(deadline?: number): Promise<void>;
  /** Spans that never reached their destination, for the exit message (remote exporters). */
  readonly dropped?: number;
  /** Where it sends spans, in words. */
  readonly destination?: string;
}

/** A destination for metrics (OTLP): pushes on its own timer, flushed and closed with the exporters. */
export interface MetricsExporter {
  flush(): Promise<void>;
  /** Pushes once more and closes, giving up at `deadline` (clock ms). */
  shutdown(deadline?: number): Promise<void>;
  readonly destination: string;
}

/** What an exporter could not deliver by the end. */
export interface ExportLoss {
  destination: string;
  dropped: number;
}

export interface TracingOptions extends Partial<TraceConfig> {
  includeContent?: boolean;
  exporters?: TraceExporter[];
  /** Tail-based sampling (--trace-keep): only requests some rule keeps are exported; all are recorded and counted. */
  keep?: readonly KeepRule[];
}

export interface EngineDescription {
  /** A client describes the server it sends to: `model.dir` is the server's URL. */
  role?: 'client';
  model: { id: string; dir: string; onnxPath: string };
  device: string;
  engine: Record<string, unknown>;
  version: string;
}

/**
 * The tracing hub: decides once per request what it records (level,
 * sampling, metrics), owns the metrics, and hands finished requests to the
 * exporters off the hot path (in a setImmediate after the request ends).
 */
export class Tracing implements FinishSink {
  private readonly config: TraceConfig;
  readonly includeContent: boolean;
  readonly metrics: EngineMetrics | null;
  readonly captureStart = now();
  private readonly exporters: TraceExporter[];
  private readonly metricsExporters: MetricsExporter[] = [];
  /** Null without --trace-keep: every recorded request is exported. */
  readonly tailSampler: TailSampler | null;
  private model_ = '';
  private pending: FinishedRequest[] = [];
  private draining = false;

  constructor(options: TracingOptions = {}) {
    this.config = { ...DEFAULT_TRACE_CONFIG, ...options };
    this.includeContent = options.includeContent ?? false;
    this.exporters = options.exporters ?? [];
    this.metrics = this.config.metrics ? new EngineMetrics('') : null;
    this.tailSampler = options.keep?.length ? new TailSampler(options.keep) : null;
  }

  /** Adds an exporter before the engine starts (exporters that need this hub's metrics are made after it). */
  addExporter(exporter: TraceExporter): void {
    this.exporters.push(exporter);
  }

  /** Adds a metrics exporter (it reads this hub's metrics, which must be on). */
  addMetricsExporter(exporter: MetricsExporter): void {
    this.metricsExporters.push(exporter);
  }

  /** Where metrics go, in words (for start-up banners). */
  get metricsDestinations(): string[] {
    return this.metricsExporters.map((e) => e.destination);
  }

  get model(): string {
    return this.model_;
  }

  get level(): TraceLevel {
    return this.config.level;
  }

  /** Changes the level for requests that start from now on; running ones keep theirs. */
  setLevel(level: TraceLevel): void {
    this.config.level = level;
  }

  get modules(): readonly string[] {
    return this.config.modules;
  }

  /** The engine's state after a step, for the gauges (nothing without metrics). */
  engineState(s: { running: number; waiting: number; kvTokens: number; cacheTokens: number }): void {
    const m = this.metrics;
    if (!m) return;
    m.running = s.running;
    m.queued = s.waiting;
    m.kvTokens = s.kvTokens;
    m.cacheTokens = s.cacheTokens;
  }

  /** Called by the engine once its model is loaded; exporters write their headers. */
  async attach(desc: EngineDescription, sha256?: string): Promise<void> {
    this.model_ = desc.model.id;
    if (this.metrics) {
      this.metrics.modelName = desc.model.id;
      const budget = desc.engine.maxTotalTokens;
      if (typeof budget === 'number') this.metrics.maxTotalTokens = budget;
    }
    const header: TraceHeader = {
      tool: 'sgl',
      version: desc.version,
      startedAt: toEpochMs(this.captureStart),
      timeOrigin: toEpochMs(0),
      host: hostname(),
      instanceId: serviceInstanceId(),
      ...(desc.role ? { role: desc.role } : {}),
      model: { id: desc.model.id, dir: desc.model.dir, ...(sha256 ? { sha256 } : {}) },
      device: desc.device,
      engine: desc.engine,
      trace: {
        level: this.config.level,
        modules: this.config.modules,
        sampleRate: this.config.sampleRate,
        includeContent: this.includeContent,
        ...(this.tailSampler ? { keep: this.tailSampler.description } : {}),
      },
    };
    for (const e of this.exporters) await e.start?.(header);
  }

  /** Whether anything is exported to files or collectors (the header then wants the model hash). */
  get exporting(): boolean {
    return this.exporters.length > 0;
  }

  /**
   * `timing`: the caller wants the request's own stage timing (include_timing),
   * so it is recorded at level 2 at least, with the request module, whether
   * or not it is sampled; it is exported only if it was sampled.
   */
  startRequest(parent: SpanParent | null = null, t: number = now(), timing = false): RequestTrace {
    const { level, sampleRate } = this.config;
    let { modules } = this.config;
    const sampled = level > 0 && (sampleRate >= 1 || Math.random() < sampleRate);
    let spanLevel: TraceLevel = sampled ? level : 0;
    if (timing) {
      spanLevel = Math.max(spanLevel, 2) as TraceLevel;
      if (!modules.includes('request')) modules = ['request', ...modules];
    }
    if (spanLevel === 0 && !this.metrics) return NULL_REQUEST_TRACE;
    const trace = new RecordingRequestTrace(this, this.metrics, traceMask(spanLevel, modules, this.metrics !== null), spanLevel, modules, parent, t, sampled);
    // The worker records with the engine's modules unless told otherwise.
    if (modules !== this.config.modules) trace.ownModules = true;
    return trace;
  }

  /**
   * The client's side of a request this process sends to a server (module
   * `client`), traced at this hub's level and sample rate; the null trace
   * (no traceparent) when it is not traced or nothing would receive it.
   */
  startClientRequest(t: number = now()): ClientRequestTrace {
    const { level, sampleRate } = this.config;
    if (level === 0 || this.exporters.length === 0 || (sampleRate < 1 && Math.random() >= sampleRate)) return NULL_CLIENT_TRACE;
    return new RecordingClientTrace(this, level, t);
  }

  finished(req: FinishedRequest): void {
    if (this.exporters.length === 0) return;
    if (this.tailSampler && !this.tailSampler.keep(req)) return;
    this.pending.push(req);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    const batch = this.pending;
    this.pending = [];
    this.draining = false;
    for (const req of batch) for (const e of this.exporters) e.export(req);
  }

  async flush(): Promise<void> {
    this.drain();
    await Promise.all([...this.exporters, ...this.metricsExporters].map((e) => e.flush()));
  }

  /** Closes every exporter, remote ones by `deadline` (clock ms); returns what could not be delivered. */
  async shutdown(deadline = Infinity): Promise<ExportLoss[]> {
    this.drain();
    await Promise.all([...this.exporters, ...this.metricsExporters].map((e) => e.shutdown(deadline)));
    return this.exporters.filter((e) => e.dropped).map((e) => ({ destination: e.destination ?? 'an exporter', dropped: e.dropped ?? 0 }));
  }
}
