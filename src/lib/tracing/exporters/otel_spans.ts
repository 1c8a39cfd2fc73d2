import type { Attributes, HrTime, SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { toEpochMs } from '../clock.js';
import type { FinishedRequest } from '../finished_request.js';
import { EVENTS, STAGES } from '../stages.js';
import { threadViews } from '../records.js';
import { newSpanId } from '../traceparent.js';
import { SGL_VERSION } from '../../version.js';

const SPAN_KIND_INTERNAL = 0;
const SPAN_KIND_SERVER = 1;
const SPAN_KIND_CLIENT = 2;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
const SCOPE = { name: 'sgl', version: SGL_VERSION };

function hr(t: number, origin: number | undefined): HrTime {
  const ms = origin === undefined ? toEpochMs(t) : origin + t;
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

function duration(start: number, end: number): HrTime {
  const ns = Math.max(0, Math.round((end - start) * 1e6));
  return [Math.floor(ns / 1e9), ns % 1e9];
}

/**
 * Turns a finished request's recorded numbers into OpenTelemetry spans with
 * explicit ids and times: a root span with the GenAI semantic-convention
 * attributes, one span per thread the request crossed, and the stage slices
 * under those (nested slices under their enclosing slice).
 */
export function requestSpans(req: FinishedRequest, resource: Resource): ReadableSpan[] {
  const spans: ReadableSpan[] = [];
  const traceId = req.traceId;
  const make = (
    name: string,
    parent: SpanContext | undefined,
    start: number,
    end: number,
    attributes: Attributes,
    events: TimedEvent[] = [],
    error?: string,
    spanId = newSpanId(),
    kind = SPAN_KIND_INTERNAL,
  ): SpanContext => {
    const ctx: SpanContext = { traceId, spanId, traceFlags: 1 };
    spans.push({
      name,
      kind,
      spanContext: () => ctx,
      parentSpanContext: parent,
      startTime: hr(start, req.epochOrigin),
      endTime: hr(end, req.epochOrigin),
      duration: duration(start, end),
      status: error ? { code: STATUS_ERROR, message: error } : { code: STATUS_UNSET },
      attributes,
      links: [],
      events,
      ended: true,
      resource,
      instrumentationScope: SCOPE,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    });
    return ctx;
  };

  const w = req.workload;
  const operation = req.operation;
  const rootAttributes: Attributes = {
    'gen_ai.operation.name': operation,
    // gen_ai.system is deprecated for this; no well-known provider value applies to a self-served model.
    'gen_ai.provider.name': 'sgl',
    'gen_ai.request.model': req.model,
    'gen_ai.response.model': req.model,
    'gen_ai.request.max_tokens': w.sampling.maxTokens,
    'gen_ai.request.temperature': w.sampling.temperature,
    'gen_ai.request.top_p': w.sampling.topP,
    'gen_ai.request.top_k': w.sampling.topK,
    'gen_ai.usage.input_tokens': w.inputTokens,
    'gen_ai.usage.output_tokens': w.outputTokens,
    'gen_ai.usage.cache_read.input_tokens': w.cachedTokens ?? 0,
    'gen_ai.response.finish_reasons': [w.finishReason],
    'sgl.request.id': req.rid,
    'sgl.trace.level': req.level,
  };
  // The GenAI conventions name TTFT only as a metric (gen_ai.server.time_to_first_token); on the span it is sgl's own.
  if (w.ttftMs !== null) rootAttributes['sgl.response.time_to_first_token'] = w.ttftMs / 1000;
  const parent: SpanContext | undefined = req.parentSpanId ? { traceId, spanId: req.parentSpanId, traceFlags: 1, isRemote: true } : undefined;
  // The client's root is the CLIENT span of the call; a server's root the SERVER span that continues it.
  const root = make(
    `${operation} ${req.model}`,
    parent,
    req.start,
    req.end,
    rootAttributes,
    [],
    req.error ?? undefined,
    req.rootSpanId,
    req.client ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER,
  );

  for (const view of threadViews(req)) {
    const thread = req.client ? 'client' : view.thread === 'main' ? 'main' : 'scheduler';
    const events: TimedEvent[] = view.events.map((e) => {
      const def = EVENTS[e.id];
      const attributes: Attributes = {};
      if (def.attrs) {
        attributes[`sgl.${def.attrs[0]}`] = e.a;
        if (def.attrs[1]) attributes[`sgl.${def.attrs[1]}`] = e.b;
      }
      return { name: def.name, time: hr(e.t, req.epochOrigin), attributes, droppedAttributesCount: 0 };
    });
    const threadSpan = make(thread, root, view.start, view.end, { 'thread.name': thread }, events);
    const slices = view.slices;
    slices.sort((a, b) => a.start - b.start || b.end - a.end || a.depth - b.depth);
    const open: SpanContext[] = [];
    for (const s of slices) {
      const parentCtx = s.depth > 0 && open[s.depth - 1] ? open[s.depth - 1] : threadSpan;
      const def = STAGES[s.id];
      open[s.depth] = make(def.name, parentCtx, s.start, s.end, { 'sgl.module': def.module }, [], s.aborted ? 'aborted' : undefined);
      open.length = s.depth + 1;
    }
  }
  // A merged capture's request: the servers' spans, children of the client's root through their own parent ids.
  for (const part of req.remote ?? []) for (const span of requestSpans(part, resource)) spans.push(span);
  return spans;
}
