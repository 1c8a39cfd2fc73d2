import { now } from './clock.js';
import type { FinishedRequest, WorkloadRecord } from './finished_request.js';
import { forEachSliceTime } from './records.js';
import type { FinishSink } from './request_trace.js';
import { STAGES } from './stages.js';
import { NULL_CONTEXT, TraceMetricContext } from './trace_context.js';
import type { TraceContext } from './trace_context.js';
import { spanBits, traceMask } from './trace_config.js';
import type { TraceLevel } from './trace_config.js';
import { formatTraceparent, newSpanId, newTraceId } from './traceparent.js';

/** What a client knows of the request it sent, for its workload record. */
export interface ClientRequestInfo {
  rid: string;
  inputTokens: number;
  inputIds?: readonly number[];
  prompt?: string;
  sampling: WorkloadRecord['sampling'];
  chat: boolean;
}

/** How the request ended, as the client saw it. */
export interface ClientOutcome {
  outputTokens: number;
  /** Prompt tokens the server's prefix cache supplied, when it said. */
  cachedTokens: number | null;
  error: string | null;
  /** When the first chunk with content arrived (clock ms); null when none did. */
  firstContent: number | null;
  output?: string;
}

/**
 * The client's side of one request sent to a server (module `client`): its
 * stages on the client's clock, and the W3C `traceparent` that makes the
 * server's spans children of the client's root span, so one request is one
 * trace across processes. Finishing hands it to the tracing hub, which
 * exports it like any request (file, OTLP).
 */
export interface ClientRequestTrace {
  readonly main: TraceContext;
  /** When the request started (clock ms). */
  readonly start: number;
  /** The header to send; null when this request is not traced. */
  readonly traceparent: string | null;
  finish(info: ClientRequestInfo, outcome: ClientOutcome, end?: number): void;
}

class NullClientTrace implements ClientRequestTrace {
  readonly main = NULL_CONTEXT;
  readonly start = 0;
  readonly traceparent = null;
  finish(): void {}
}

export const NULL_CLIENT_TRACE: ClientRequestTrace = new NullClientTrace();

export class RecordingClientTrace implements ClientRequestTrace {
  readonly main: TraceMetricContext;
  readonly traceparent: string;
  private readonly traceId = newTraceId();
  private readonly rootSpanId = newSpanId();
  private readonly spanStages: Uint8Array;
  private readonly spanEvents: Uint8Array;

  constructor(
    private readonly sink: FinishSink,
    private readonly level: TraceLevel,
    readonly start: number = now(),
  ) {
    const mask = traceMask(level, ['client'], false);
    this.main = new TraceMetricContext(mask);
    this.spanStages = spanBits(mask.stages);
    this.spanEvents = spanBits(mask.events);
    this.traceparent = formatTraceparent({ traceId: this.traceId, spanId: this.rootSpanId });
  }

  finish(info: ClientRequestInfo, outcome: ClientOutcome, end: number = now()): void {
    this.main.abort(end);
    const main = this.main.records();
    const stages: Record<string, number> = {};
    forEachSliceTime(main, (id, ms) => {
      const name = STAGES[id].name;
      stages[name] = (stages[name] ?? 0) + ms;
    });
    const content = this.sink.includeContent;
    const workload: WorkloadRecord = {
      rid: info.rid,
      arrivalMs: this.start - this.sink.captureStart,
      inputTokens: info.inputTokens,
      ...(outcome.cachedTokens === null ? {} : { cachedTokens: outcome.cachedTokens }),
      ...(content && info.inputIds ? { inputIds: [...info.inputIds] } : {}),
      sampling: info.sampling,
      outputTokens: outcome.outputTokens,
      finishReason: outcome.error === null ? (outcome.outputTokens >= info.sampling.maxTokens ? 'length' : 'stop') : 'error',
      ttftMs: outcome.firstContent === null ? null : outcome.firstContent - this.start,
      e2eMs: end - this.start,
      stages,
      ...(content && info.prompt !== undefined ? { prompt: info.prompt } : {}),
      ...(content && outcome.output !== undefined ? { output: outcome.output } : {}),
    };
    const finished: FinishedRequest = {
      rid: info.rid,
      traceId: this.traceId,
      rootSpanId: this.rootSpanId,
      parentSpanId: null,
      level: this.level,
      modules: ['client'],
      spanStages: this.spanStages,
      spanEvents: this.spanEvents,
      start: this.start,
      end,
      main,
      worker: new Float64Array(0),
      error: outcome.error,
      model: this.sink.model,
      operation: info.chat ? 'chat' : 'text_completion',
      workload,
      client: true,
    };
    this.sink.finished(finished);
  }
}
