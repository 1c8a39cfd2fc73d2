import type { FromWorker, RequestRecords, SchedulerStats, TokenOutput } from '../../protocol.js';
import { now } from '../../tracing/clock.js';
import type { RunningBatch } from '../kv/running_batch.js';
import type { ModelRunner } from '../onnx/model_runner.js';
import type { PrefixCache } from '../policy/prefix_cache.js';
import type { Scheduler } from '../policy/scheduler.js';
import { recordsOf } from './live_request.js';
import type { LiveRequest } from './live_request.js';
import { recordAborted, recordFinished } from './step_trace.js';

/**
 * A request the main thread ended hands its records back: stopped by a stop
 * string, its decode loop ends normally; aborted, its open slices close as failed.
 */
export function endedMessage(r: LiveRequest, reason: 'stop' | 'abort'): FromWorker {
  const t = now();
  if (reason === 'stop') recordFinished(r.trace, t);
  else recordAborted(r.trace, t);
  r.trace.abort(t);
  return { type: 'finished', rid: r.rid, reason, trace: recordsOf(r) };
}

/** Requests a failed run ended: their open slices close as failed. */
export function failedMessage(rows: readonly LiveRequest[], message: string): FromWorker {
  const t = now();
  const traces: RequestRecords[] = [];
  for (const r of rows) {
    r.trace.abort(t);
    const rec = recordsOf(r);
    if (rec) traces.push(rec);
  }
  return { type: 'failed', rids: rows.map((r) => r.rid), message, traces };
}

/** The step's tokens for the main thread; the requests that ended in it close their decode loop here. */
export function tokensMessage(outputs: TokenOutput[], ended: readonly LiveRequest[], stats: SchedulerStats): FromWorker {
  const sentAt = now();
  const traces: RequestRecords[] = [];
  for (const r of ended) {
    recordFinished(r.trace, sentAt);
    const rec = recordsOf(r);
    if (rec) traces.push(rec);
  }
  return { type: 'tokens', outputs, sentAt, traces, stats };
}

/** What the engine's gauges and the trace's scheduler stats show after a step. */
export function stepStats(batch: RunningBatch<LiveRequest>, scheduler: Scheduler<LiveRequest>, cache: PrefixCache | null, runner: ModelRunner): SchedulerStats {
  return {
    running: batch.size,
    waiting: scheduler.waiting,
    kvTokens: batch.kvTokens,
    reservedTokens: scheduler.reserved(batch.rows),
    cacheTokens: cache?.size ?? 0,
    evictedTokens: cache?.evictedTotal ?? 0,
    runs: runner.transfers.runs,
    bytesToDevice: runner.transfers.toDevice,
    bytesFromDevice: runner.transfers.fromDevice,
  };
}
