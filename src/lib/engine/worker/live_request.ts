import type { RequestRecords, WorkerRequest } from '../../protocol.js';
import { Rng } from '../../stats/rng.js';
import { now } from '../../tracing/clock.js';
import { S } from '../../tracing/stages.js';
import type { TraceModule } from '../../tracing/stages.js';
import { traceMask } from '../../tracing/trace_config.js';
import { NULL_CONTEXT, TraceMetricContext } from '../../tracing/trace_context.js';
import type { TraceContext } from '../../tracing/trace_context.js';
import type { BatchRow } from '../kv/running_batch.js';
import type { SamplingConfig } from './sampler.js';
import type { Schedulable } from '../policy/scheduler.js';

/** A request as the scheduler thread holds it, from its arrival to its last token. */
export interface LiveRequest extends BatchRow, Schedulable {
  inputIds: number[];
  sampling: SamplingConfig;
  rng: Rng;
  stopTokens: Set<number>;
  /** Alternatives to report log-probabilities for; -1: none. */
  logprobs: number;
  generated: number;
  /** The tokens sampled so far, in order (the prefix cache takes them in when the request ends). */
  outputIds: number[];
  /** Prompt tokens whose KV the prefix cache supplied. */
  cachedTokens: number;
  trace: TraceContext;
  traceparent: string;
}

/**
 * A request that arrived from the main thread: its dispatch hop recorded, its queue wait begun.
 * `freeAt` is when the worker last finished a step: a message posted before then waited in the
 * worker's message queue while the step ran, and that wait is queueing (a first queue_wait
 * slice), not the hop; the hop is only what came after.
 */
export function live(req: WorkerRequest, modules: readonly TraceModule[], freeAt = 0): LiveRequest {
  const t = now();
  const tc = req.trace;
  const trace = tc ? new TraceMetricContext(traceMask(tc.level, (tc.modules as readonly TraceModule[] | undefined) ?? modules, tc.metrics), 64) : NULL_CONTEXT;
  if (tc) {
    const hopFrom = Math.min(Math.max(tc.dispatchedAt, freeAt), t);
    if (hopFrom > tc.dispatchedAt) trace.slice(S.queue_wait, tc.dispatchedAt, hopFrom);
    trace.slice(S.dispatch, hopFrom, t);
    trace.begin(S.queue_wait, t);
  }
  return {
    rid: req.rid,
    lastToken: req.inputIds[req.inputIds.length - 1],
    inputIds: req.inputIds,
    promptLength: req.inputIds.length,
    maxTokens: req.maxTokens,
    sampling: { temperature: req.temperature, topP: req.topP, topK: req.topK },
    rng: new Rng(req.seed),
    stopTokens: new Set(req.stopTokenIds),
    logprobs: req.logprobs,
    generated: 0,
    outputIds: [],
    cachedTokens: 0,
    trace,
    traceparent: tc?.traceparent ?? '',
  };
}

/** The records a request hands back to the main thread (none when it recorded nothing). */
export function recordsOf(r: LiveRequest): RequestRecords | null {
  return r.trace === NULL_CONTEXT ? null : { rid: r.rid, traceparent: r.traceparent, records: r.trace.records().slice() };
}
