import { hashedRid } from '../request_id.js';
import type { ChatMessage, FinishReason, RequestTiming, SamplingParams, WorkerTraceContext } from '../protocol.js';
import { now } from './clock.js';
import type { FinishedRequest, WorkloadRecord } from './finished_request.js';
import type { EngineMetrics } from './metrics.js';
import { forEachSliceTime } from './records.js';
import { requestTiming } from './request_timing.js';
import { NULL_CONTEXT, TraceMetricContext } from './trace_context.js';
import type { TraceContext } from './trace_context.js';
import type { TraceLevel, TraceMask } from './trace_config.js';
import { TO_METRIC, spanBits } from './trace_config.js';
import { S, STAGES } from './stages.js';
import type { TraceModule } from './stages.js';
import type { SpanParent } from './traceparent.js';
import { formatTraceparent, newSpanId, newTraceId } from './traceparent.js';

export interface RequestInfo {
  rid: string;
  inputIds: readonly number[];
  sampling: Required<Omit<SamplingParams, 'stop' | 'stopTokenIds' | 'seed'>> & { seed: number; stop: readonly string[] };
  prompt?: string;
  messages?: readonly ChatMessage[];
  chat: boolean;
  /** The rid was chosen by a client (it may carry content): recorded hashed unless content is captured. */
  clientRid?: boolean;
}

/** Where a finished request goes: the tracing hub, which exports it off the hot path. */
export interface FinishSink {
  readonly includeContent: boolean;
  readonly captureStart: number;
  readonly model: string;
  finished(req: FinishedRequest): void;
}

/**
 * One request's tracing on the main thread: the main-thread context, the
 * request-level metrics (TTFT, inter-token latency, E2E), and the worker's
 * records once they come back. It completes when both threads are done.
 */
export interface RequestTrace {
  readonly main: TraceContext;
  /** Whether anything on this request needs timestamps. */
  readonly timed: boolean;
  describe(info: RequestInfo): void;
  workerContext(dispatchedAt: number): WorkerTraceContext | null;
  onToken(t: number): void;
  /** The prefix cache supplied this many of the prompt's tokens. */
  onCached(tokens: number): void;
  /** The worker's records arrived (the request ended there). */
  workerDone(records: Float64Array | null): void;
  /** The main thread is done with the request; `end` is when its last response was delivered (default: now). */
  mainDone(finish: FinishReason | 'error', outputTokens: number, output: string, end?: number, error?: string): void;
  /** The request's timing from its arrival to `end`, from what both threads recorded so far; null when it records none. */
  timing(end: number): RequestTiming | null;
  /** Whether the worker's records are back (the worker is done with the request). */
  readonly workerReported: boolean;
}

class NullRequestTrace implements RequestTrace {
  readonly main = NULL_CONTEXT;
  readonly timed = false;
  describe(): void {}
  workerContext(): null {
    return null;
  }
  onToken(): void {}
  onCached(): void {}
  workerDone(): void {}
  mainDone(): void {}
  timing(): null {
    return null;
  }
  readonly workerReported = true;
}

export const NULL_REQUEST_TRACE: RequestTrace = new NullRequestTrace();

export class RecordingRequestTrace implements RequestTrace {
  readonly main: TraceMetricContext;
  readonly timed = true;
  private readonly traceId: string;
  /** The request's root span, named now so the context sent to the worker points at it. */
  private readonly rootSpanId = newSpanId();
  private info: RequestInfo | null = null;
  private firstToken: number | null = null;
  private cachedTokens = 0;
  private lastToken = 0;
  private worker: Float64Array | null = null;
  private waitingFor = 2;
  /** Its modules are not the engine's (a timing request added `request`): the worker is told them. */
  ownModules = false;
  private outcome: { finish: FinishReason | 'error'; outputTokens: number; output: string; error?: string; end: number } | null = null;

  constructor(
    private readonly sink: FinishSink,
    private readonly metrics: EngineMetrics | null,
    private readonly mask: TraceMask,
    private readonly level: TraceLevel,
    private readonly modules: readonly TraceModule[],
    private readonly parent: SpanParent | null,
    readonly start: number,
    /** Whether the finished request goes to the exporters (it may be recorded only for its response's timing, or its metrics). */
    private readonly exported: boolean = level > 0,
  ) {
    this.main = new TraceMetricContext(mask);
    this.traceId = parent?.traceId ?? newTraceId();
  }

  describe(info: RequestInfo): void {
    this.info = info;
  }

  get workerReported(): boolean {
    return this.worker !== null;
  }

  timing(end: number): RequestTiming {
    const traceparent = formatTraceparent({ traceId: this.traceId, spanId: this.rootSpanId, flags: this.exported ? 1 : 0 });
    return requestTiming(
      this.main.records(),
      this.worker ?? new Float64Array(0),
      spanBits(this.mask.stages),
      this.start,
      end,
      this.firstToken,
      this.cachedTokens,
      traceparent,
    );
  }

  workerContext(dispatchedAt: number): WorkerTraceContext {
    const traceparent = formatTraceparent({ traceId: this.traceId, spanId: this.rootSpanId });
    return { traceparent, level: this.level, metrics: this.metrics !== null, dispatchedAt, ...(this.ownModules ? { modules: this.modules } : {}) };
  }

  onCached(tokens: number): void {
    this.cachedTokens = tokens;
  }

  onToken(t: number): void {
    if (this.metrics) {
      if (this.firstToken === null) this.metrics.ttft.observe((t - this.start) / 1000);
      else this.metrics.interToken.observe((t - this.lastToken) / 1000);
    }
    if (this.firstToken === null) this.firstToken = t;
    this.lastToken = t;
  }

  workerDone(records: Float64Array | null): void {
    if (this.worker !== null || this.waitingFor === 0) return;
    this.worker = records ?? new Float64Array(0);
    this.settle();
  }

  mainDone(finish: FinishReason | 'error', outputTokens: number, output: string, end: number = now(), error?: string): void {
    if (this.outcome) return;
    this.main.abort(end);
    this.outcome = { finish, outputTokens, output, error, end };
    this.settle();
  }

  private settle(): void {
    if (--this.waitingFor > 0 || !this.outcome || !this.info) return;
    const { finish, outputTokens, output, error, end } = this.outcome;
    const main = this.main.records();
    const worker = this.worker!;
    const stages: Record<string, number> = {};
    const metrics = this.metrics;
    // Queueing can come in two slices (waiting for a busy worker, then in the scheduler's queue): one observation of their sum.
    let queued = -1;
    const add = (id: number, ms: number): void => {
      const name = STAGES[id].name;
      stages[name] = (stages[name] ?? 0) + ms;
      if (id === S.queue_wait) queued = Math.max(0, queued) + ms;
      else if (metrics && this.mask.stages[id] & TO_METRIC) metrics.observeStage(id, ms / 1000);
    };
    forEachSliceTime(main, add);
    forEachSliceTime(worker, add);
    if (metrics && queued >= 0) {
      if (this.mask.stages[S.queue_wait] & TO_METRIC) metrics.observeStage(S.queue_wait, queued / 1000);
      metrics.queueTime.observe(queued / 1000);
    }
    if (metrics) {
      metrics.e2e.observe((end - this.start) / 1000);
      metrics.requests++;
      if (finish === 'abort' || finish === 'error') metrics.abortedRequests++;
      metrics.promptTokens += this.info.inputIds.length;
      metrics.cachedPromptTokens += this.cachedTokens;
      metrics.generationTokens += outputTokens;
      const ttft = this.firstToken === null ? null : (this.firstToken - this.start) / 1000;
      const tpot = this.firstToken !== null && outputTokens > 1 ? (end - this.firstToken) / 1000 / (outputTokens - 1) : null;
      const errorType = finish === 'error' ? 'engine_error' : finish === 'abort' ? 'aborted' : null;
      metrics.genAi.observe(this.info.chat ? 'chat' : 'text_completion', errorType, (end - this.start) / 1000, ttft, tpot);
    }
    if (!this.exported) return;
    const { sampling, inputIds, prompt, messages } = this.info;
    const content = this.sink.includeContent;
    const rid = content || !this.info.clientRid ? this.info.rid : hashedRid(this.info.rid);
    const { stop, ...params } = sampling;
    const workload: WorkloadRecord = {
      rid,
      arrivalMs: this.start - this.sink.captureStart,
      inputTokens: inputIds.length,
      cachedTokens: this.cachedTokens,
      ...(content ? { inputIds: [...inputIds] } : {}),
      sampling: { ...params, ...(content ? { stop: [...stop] } : {}) },
      outputTokens,
      finishReason: finish,
      ttftMs: this.firstToken === null ? null : this.firstToken - this.start,
      e2eMs: end - this.start,
      stages,
      ...(content && prompt !== undefined ? { prompt } : {}),
      ...(content && messages !== undefined ? { messages: messages.map((m) => ({ role: m.role, content: m.content })) } : {}),
      ...(content ? { output } : {}),
    };
    this.sink.finished({
      rid,
      traceId: this.traceId,
      rootSpanId: this.rootSpanId,
      parentSpanId: this.parent?.spanId ?? null,
      ...(this.parent?.traceState ? { traceState: this.parent.traceState } : {}),
      level: this.level,
      modules: this.modules,
      spanStages: spanBits(this.mask.stages),
      spanEvents: spanBits(this.mask.events),
      start: this.start,
      end,
      main,
      worker,
      error: error ?? (finish === 'abort' ? 'aborted' : null),
      model: this.sink.model,
      operation: this.info.chat ? 'chat' : 'text_completion',
      workload,
    });
  }
}
