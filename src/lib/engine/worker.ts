/**
 * The scheduler thread (SGLang's scheduler process): it owns the onnxruntime
 * session and the running batch, and loops recv → schedule → run batch →
 * process results. The main thread talks to it only through protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FinishReason, FromWorker, RequestRecords, RunnerInfo, ToWorker, TokenOutput, WorkerConfig, WorkerRequest } from '../protocol.js';
import { alignClock, now } from '../tracing/clock.js';
import { E, S } from '../tracing/stages.js';
import type { TraceModule } from '../tracing/stages.js';
import { traceMask } from '../tracing/trace_config.js';
import { NULL_CONTEXT, TraceMetricContext } from '../tracing/trace_context.js';
import type { TraceContext } from '../tracing/trace_context.js';
import type { BatchRow } from './kv_batch.js';
import { KvBatch } from './kv_batch.js';
import type { RowLogits } from './model_runner.js';
import { ModelRunner } from './model_runner.js';
import { Rng } from '../stats/rng.js';
import type { SamplingConfig } from './sampler.js';
import { Sampler } from './sampler.js';
import type { Schedulable } from './scheduler.js';
import { Scheduler } from './scheduler.js';

interface LiveRequest extends BatchRow, Schedulable {
  inputIds: number[];
  sampling: SamplingConfig;
  rng: Rng;
  stopTokens: Set<number>;
  generated: number;
  trace: TraceContext;
  traceparent: string;
}

function live(req: WorkerRequest, modules: readonly TraceModule[]): LiveRequest {
  const t = now();
  const tc = req.trace;
  const trace = tc ? new TraceMetricContext(traceMask(tc.level, modules, tc.metrics), 64) : NULL_CONTEXT;
  if (tc) {
    trace.slice(S.dispatch, tc.dispatchedAt, t);
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
    generated: 0,
    trace,
    traceparent: tc?.traceparent ?? '',
  };
}

function recordsOf(r: LiveRequest): RequestRecords | null {
  return r.trace === NULL_CONTEXT ? null : { rid: r.rid, traceparent: r.traceparent, records: r.trace.records().slice() };
}

class SchedulerWorker {
  private batch = KvBatch.empty<LiveRequest>();
  /** Running requests to drop before the next step, and why. */
  private readonly aborted = new Map<string, 'stop' | 'abort'>();
  private readonly sampler: Sampler;
  private looping = false;
  private batchId = 0;
  /** Requests that ended in the current step (reused, never reallocated). */
  private readonly ended: LiveRequest[] = [];
  private readonly step = { prepared: 0 };

  constructor(
    private readonly runner: ModelRunner,
    private readonly scheduler: Scheduler<LiveRequest>,
    private readonly contextLength: number,
    private readonly modules: readonly TraceModule[],
    private readonly send: (msg: FromWorker) => void,
  ) {
    this.sampler = new Sampler(runner.vocabSize);
  }

  onMessage(msg: ToWorker): void {
    switch (msg.type) {
      case 'add':
        this.scheduler.enqueue(live(msg.req, this.modules));
        this.kick();
        break;
      case 'abort': {
        const waiting = this.scheduler.remove(msg.rid);
        if (waiting) this.sendAborted(waiting, msg.reason);
        else if (this.batch.rows.some((r) => r.rid === msg.rid)) this.aborted.set(msg.rid, msg.reason);
        break;
      }
      case 'shutdown':
        void this.runner.release().finally(() => parentPort?.close());
        break;
    }
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop().finally(() => {
      this.looping = false;
    });
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.aborted.size) this.dropAborted();
      const admitted = this.scheduler.admit(this.batch.rows);
      if (admitted.length) await this.prefill(admitted);
      else if (this.batch.size) await this.decode();
      else return;
      // Let 'add' and 'abort' messages in between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * A request the main thread ended hands its records back: stopped by a stop
   * string, its decode loop ends normally; aborted, its open slices close as failed.
   */
  private sendAborted(r: LiveRequest, reason: 'stop' | 'abort'): void {
    const t = now();
    if (reason === 'stop') {
      r.trace.end(S.decode_loop, t);
      r.trace.event(E.finish, t);
    } else {
      r.trace.event(E.abort, t);
    }
    r.trace.abort(t);
    this.send({ type: 'finished', rid: r.rid, reason, trace: recordsOf(r) });
  }

  private sendFailed(rows: readonly LiveRequest[], message: string): void {
    const t = now();
    const traces: RequestRecords[] = [];
    for (const r of rows) {
      r.trace.abort(t);
      const rec = recordsOf(r);
      if (rec) traces.push(rec);
    }
    this.send({ type: 'failed', rids: rows.map((r) => r.rid), message, traces });
  }

  private dropAborted(): void {
    const keep: number[] = [];
    this.batch.rows.forEach((r, i) => {
      const reason = this.aborted.get(r.rid);
      if (reason) this.sendAborted(r, reason);
      else keep.push(i);
    });
    this.aborted.clear();
    this.repack(keep, now());
    this.report([]);
  }

  /** Keeps the chosen rows of the running batch; the rows that stay record the repack. */
  private repack(keep: number[], t: number): void {
    this.batch = KvBatch.repack(this.runner, [{ batch: this.batch, keep }]);
    this.recordBatchChange(t);
  }

  private recordBatchChange(t: number): void {
    const done = now();
    const id = ++this.batchId;
    const rows = this.batch.rows;
    for (let i = 0; i < rows.length; i++) {
      rows[i].trace.slice(S.kv_repack, t, done);
      rows[i].trace.event(E.batch_formed, done, id, rows.length);
    }
  }

  private async prefill(admitted: LiveRequest[]): Promise<void> {
    const admittedAt = now();
    const batchId = ++this.batchId;
    for (const r of admitted) {
      r.trace.next(S.queue_wait, S.prefill_prepare, admittedAt);
      r.trace.event(E.schedule, admittedAt, batchId, admitted.length);
    }
    const chunks: number[] = [];
    let result;
    try {
      result = await KvBatch.prefill(this.runner, admitted, admitted.map((r) => r.inputIds), this.scheduler.limits.maxPrefillTokens, chunks);
    } catch (err) {
      this.sendFailed(admitted, (err as Error).message);
      return;
    }
    const { batch: fresh, logits } = result;
    const outputs: TokenOutput[] = [];
    const keepFresh = this.sampleRows(fresh.rows, logits, outputs);
    const sampled = now();
    for (const r of admitted) recordPrefill(r.trace, chunks, admitted.length, sampled);
    const keepOld = this.batch.rows.map((_, i) => i);
    if (this.batch.size || keepFresh.length < fresh.size) {
      this.batch = KvBatch.repack(this.runner, [{ batch: this.batch, keep: keepOld }, { batch: fresh, keep: keepFresh }]);
      this.recordBatchChange(sampled);
    } else {
      this.batch = fresh;
    }
    this.report(outputs);
  }

  /** The decode step: one token for every running request. */
  private async decode(): Promise<void> {
    const rows = this.batch.rows;
    const past = this.batch.pastLength;
    const start = now();
    let logits;
    try {
      logits = await this.batch.decode(this.runner, this.step);
    } catch (err) {
      this.sendFailed(rows, (err as Error).message);
      this.batch = KvBatch.empty();
      return;
    }
    const ran = now();
    const outputs: TokenOutput[] = [];
    const keep = this.sampleRows(rows, logits, outputs);
    const sampled = now();
    const prepared = this.step.prepared;
    for (let i = 0; i < rows.length; i++) {
      const trace = rows[i].trace;
      trace.begin(S.decode_forward, start);
      trace.slice(S.prepare_inputs, start, prepared);
      trace.slice(S.ort_run, prepared, ran);
      trace.event(E.forward, prepared, rows.length, past);
      trace.slice(S.sample, ran, sampled);
      trace.end(S.decode_forward, sampled);
    }
    if (keep.length < rows.length) this.repack(keep, sampled);
    this.report(outputs);
  }

  /** Samples one token per row into `outputs` and returns the rows that go on. */
  private sampleRows(rows: readonly LiveRequest[], logits: RowLogits, outputs: TokenOutput[]): number[] {
    const keep: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const token = this.sampler.sample(logits.data, logits.offset(i), r.sampling, r.rng);
      r.lastToken = token;
      r.generated++;
      let finish: FinishReason | null = null;
      if (r.stopTokens.has(token)) finish = 'stop';
      else if (r.generated >= r.maxTokens || r.promptLength + r.generated >= this.contextLength) finish = 'length';
      if (finish === null) keep.push(i);
      else this.ended.push(r);
      outputs.push({ rid: r.rid, token, finish });
    }
    return keep;
  }

  /** Hands the step's tokens to the main thread; requests that ended close their decode loop here. */
  private report(outputs: TokenOutput[]): void {
    const sentAt = now();
    const traces: RequestRecords[] = [];
    for (const r of this.ended) {
      r.trace.end(S.decode_loop, sentAt);
      r.trace.event(E.finish, sentAt);
      const rec = recordsOf(r);
      if (rec) traces.push(rec);
    }
    this.ended.length = 0;
    this.send({
      type: 'tokens',
      outputs,
      sentAt,
      traces,
      stats: {
        running: this.batch.size,
        waiting: this.scheduler.waiting,
        kvTokens: this.batch.kvTokens,
        reservedTokens: this.scheduler.reserved(this.batch.rows),
      },
    });
  }
}

/**
 * A prefill's stages for one request: the first chunk's input preparation
 * closes prefill_prepare; each chunk is a chunked_prefill slice (its own
 * input preparation and onnxruntime run nested in it); sampling the first
 * token closes prefill_forward and opens the decode loop.
 */
function recordPrefill(trace: TraceContext, chunks: readonly number[], batchSize: number, sampled: number): void {
  trace.slice(S.prepare_inputs, chunks[0], chunks[1]);
  trace.next(S.prefill_prepare, S.prefill_forward, chunks[1]);
  for (let k = 0; k < chunks.length; k += 3) {
    const [prepareStart, runStart, runEnd] = [chunks[k], chunks[k + 1], chunks[k + 2]];
    trace.begin(S.chunked_prefill, k === 0 ? runStart : prepareStart);
    if (k > 0) trace.slice(S.prepare_inputs, prepareStart, runStart);
    trace.slice(S.ort_run, runStart, runEnd);
    trace.event(E.forward, runStart, batchSize, k / 3);
    trace.end(S.chunked_prefill, runEnd);
  }
  trace.slice(S.sample, chunks[chunks.length - 1], sampled);
  trace.event(E.first_token, sampled);
  trace.next(S.prefill_forward, S.decode_loop, sampled);
}

async function main(): Promise<void> {
  const port = parentPort!;
  const cfg = workerData as WorkerConfig;
  alignClock(cfg.timeOrigin);
  const send = (msg: FromWorker): void => port.postMessage(msg);
  let runner: ModelRunner;
  try {
    runner = await ModelRunner.load(cfg);
  } catch (err) {
    send({ type: 'fatal', message: (err as Error).message, kind: (err as Error).name });
    return;
  }
  const { numLayers, kvHeads, headDim, kvType, hasPositionIds } = runner.io;
  const kvBytesPerToken = numLayers * 2 * kvHeads * headDim * (kvType === 'float16' ? 2 : 4);
  const limits = { ...cfg.limits, maxTotalTokens: Math.floor(cfg.kvCacheBytes / kvBytesPerToken) };
  const info: RunnerInfo = { numLayers, kvHeads, headDim, kvType, hasPositionIds, vocabSize: runner.vocabSize, kvBytesPerToken, limits };
  const worker = new SchedulerWorker(runner, new Scheduler<LiveRequest>(limits), cfg.contextLength, cfg.traceModules as TraceModule[], send);
  port.on('message', (msg: ToWorker) => worker.onMessage(msg));
  send({ type: 'ready', info });
}

void main();
