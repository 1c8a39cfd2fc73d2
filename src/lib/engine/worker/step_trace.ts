import { E, S } from '../../tracing/stages.js';
import type { TraceContext } from '../../tracing/trace_context.js';
import type { ChunkTiming } from '../kv/running_batch.js';

/** Where the scheduler loop's stage boundaries go, so the loop itself reads as scheduling. */

/** Admitted to a prefill batch: the queue wait ends, input preparation begins. */
export function recordScheduled(trace: TraceContext, t: number, batchId: number, batchSize: number): void {
  trace.next(S.queue_wait, S.prefill_prepare, t);
  trace.event(E.schedule, t, batchId, batchSize);
}

/**
 * A prefill's stages for one request: the first chunk's input preparation
 * closes prefill_prepare; each chunk is a chunked_prefill slice (its own
 * input preparation and onnxruntime run nested in it); sampling the first
 * token closes prefill_forward and opens the decode loop.
 */
export function recordPrefill(trace: TraceContext, chunks: readonly ChunkTiming[], batchSize: number, sampled: number): void {
  trace.slice(S.prepare_inputs, chunks[0].prepareStart, chunks[0].runStart);
  trace.next(S.prefill_prepare, S.prefill_forward, chunks[0].runStart);
  chunks.forEach((c, k) => {
    trace.begin(S.chunked_prefill, k === 0 ? c.runStart : c.prepareStart);
    if (k > 0) trace.slice(S.prepare_inputs, c.prepareStart, c.runStart);
    trace.slice(S.ort_run, c.runStart, c.runEnd);
    trace.event(E.forward, c.runStart, batchSize, k);
    trace.end(S.chunked_prefill, c.runEnd);
  });
  trace.slice(S.sample, chunks[chunks.length - 1].runEnd, sampled);
  trace.event(E.first_token, sampled);
  trace.next(S.prefill_forward, S.decode_loop, sampled);
}

/** One decode step as each row in it saw it: inputs prepared, onnxruntime run, sampling. */
export interface DecodeTiming {
  start: number;
  preparedAt: number;
  ran: number;
  sampled: number;
  batchSize: number;
  pastLength: number;
}

export function recordDecodeStep(trace: TraceContext, s: DecodeTiming): void {
  trace.begin(S.decode_forward, s.start);
  trace.slice(S.prepare_inputs, s.start, s.preparedAt);
  trace.slice(S.ort_run, s.preparedAt, s.ran);
  trace.event(E.forward, s.preparedAt, s.batchSize, s.pastLength);
  trace.slice(S.sample, s.ran, s.sampled);
  trace.end(S.decode_forward, s.sampled);
}

/** The running batch changed membership: its KV was repacked between `start` and `done`. */
export function recordBatchChange(trace: TraceContext, start: number, done: number, batchId: number, batchSize: number): void {
  trace.slice(S.kv_repack, start, done);
  trace.event(E.batch_formed, done, batchId, batchSize);
}

/**
 * What the prefix cache supplied (matched at admission) was copied into the
 * request's row: how many tokens it supplied, and how many matched (more,
 * when a batch-mate needed the row to start earlier).
 */
export function recordCopyIn(trace: TraceContext, start: number, done: number, cached: number, matched: number, evicted: number, cacheTokens: number): void {
  trace.slice(S.cache_copy_in, start, done);
  trace.event(E.cached_prefix, done, cached, matched);
  if (evicted > 0) trace.event(E.cache_evict, done, evicted, cacheTokens);
}

/** The request's prompt went into the prefix cache, evicting others' if it needed the room. */
export function recordCacheInsert(trace: TraceContext, start: number, done: number, evicted: number, cacheTokens: number): void {
  trace.slice(S.cache_insert, start, done);
  if (evicted > 0) trace.event(E.cache_evict, done, evicted, cacheTokens);
}

/** The request finished normally (its own stop token, its length, or a stop string on the main thread). */
export function recordFinished(trace: TraceContext, t: number): void {
  trace.end(S.decode_loop, t);
  trace.event(E.finish, t);
}

/** The main thread aborted the request: its open slices close as failed. */
export function recordAborted(trace: TraceContext, t: number): void {
  trace.event(E.abort, t);
  trace.abort(t);
}
