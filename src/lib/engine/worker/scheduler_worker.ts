import { parentPort } from 'node:worker_threads';
import type { FinishReason, FromWorker, RequestRecords, ToWorker, TokenOutput } from '../../protocol.js';
import { now } from '../../tracing/clock.js';
import type { TraceModule } from '../../tracing/stages.js';
import { KvBatch } from '../kv/kv_batch.js';
import type { PrefixCache, PrefixMatch } from '../policy/prefix_cache.js';
import type { ModelRunner, RowLogits } from '../onnx/model_runner.js';
import type { ChunkTiming, RunningBatch } from '../kv/running_batch.js';
import { Sampler } from './sampler.js';
import { reservation } from '../policy/scheduler.js';
import type { Scheduler } from '../policy/scheduler.js';
import { SlotBatch } from '../kv/slot_batch.js';
import { SlotCache } from '../kv/slot_cache.js';
import { SlotPrefill } from '../kv/slot_prefill.js';
import { copyIntoDense, copyIntoSlots } from './copy_in.js';
import { live, recordsOf } from './live_request.js';
import { betterNextRun } from './prefix_admission.js';
import type { LiveRequest } from './live_request.js';
import { recordAborted, recordBatchChange, recordCacheInsert, recordDecodeStep, recordFinished, recordPrefill, recordScheduled } from './step_trace.js';
import type { DecodeTiming } from './step_trace.js';

/**
 * The scheduler loop (SGLang's scheduler process): recv → schedule → run
 * batch → process results, over the running batch and the waiting queue.
 * Stage boundaries go through step_trace.ts; messages through protocol.ts.
 */
export class SchedulerWorker {
  /** The slot cache of a slot model (decided once, from the model); null for the dense layout. */
  private readonly slots: SlotCache | null;
  private batch: RunningBatch<LiveRequest>;
  /** Running requests to drop before the next step, and why. */
  private readonly aborted = new Map<string, 'stop' | 'abort'>();
  /** Requests whose prefill is running: in neither the queue nor the batch, and an abort must still find them. */
  private prefilling: readonly LiveRequest[] = [];
  /** A slot prefill between its chunks: the running rows decode a step after each chunk. */
  private pending: SlotPrefill<LiveRequest> | null = null;
  private readonly sampler: Sampler;
  private looping = false;
  private batchId = 0;
  /** Requests that ended in the current step (reused, never reallocated). */
  private readonly ended: LiveRequest[] = [];
  /** When the worker last became free to read its messages at the end of a step (within one, the runner says: runner.yieldedAt). */
  private freeAt = 0;

  constructor(
    private readonly runner: ModelRunner,
    private readonly scheduler: Scheduler<LiveRequest>,
    private readonly contextLength: number,
    private readonly modules: readonly TraceModule[],
    private readonly send: (msg: FromWorker) => void,
    /** The prefix cache; null when it is off or the model cannot prefill on top of a past. */
    private readonly cache: PrefixCache | null = null,
  ) {
    this.sampler = new Sampler(runner.vocabSize);
    this.slots = runner.io.slots ? new SlotCache(runner, scheduler.limits.maxRunningRequests, contextLength, scheduler.limits.maxTotalTokens) : null;
    this.batch = this.emptyBatch();
  }

  private emptyBatch(): RunningBatch<LiveRequest> {
    return this.slots ? SlotBatch.empty(this.slots) : KvBatch.empty();
  }

  onMessage(msg: ToWorker): void {
    switch (msg.type) {
      case 'add':
        this.scheduler.enqueue(live(msg.req, this.modules, Math.max(this.freeAt, this.runner.yieldedAt)));
        this.kick();
        break;
      case 'abort': {
        const waiting = this.scheduler.remove(msg.rid);
        if (waiting) this.sendAborted(waiting, msg.reason);
        else if (this.batch.rows.some((r) => r.rid === msg.rid) || this.prefilling.some((r) => r.rid === msg.rid)) this.aborted.set(msg.rid, msg.reason);
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
      if (this.aborted.size) await this.dropAborted();
      if (this.pending) {
        // Chunked prefill beside decoding (slots): a chunk, then a step of the rows already running.
        await this.stepPrefill(this.pending);
        if (this.pending && this.batch.size) await this.decode();
      } else {
        const next = this.admit();
        if (next) await this.prefill(next.admitted, next.matches);
        else if (this.batch.size) await this.decode();
        else return;
      }
      // Let 'add' and 'abort' messages in between steps; one posted during the step waited for this moment.
      this.freeAt = now();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * The requests to prefill next and, with the prefix cache, each one's
   * match: matched once, admission weighs its length and the prefill copies
   * it in. Without waiting requests nothing is matched (the decode path).
   */
  private admit(): { admitted: LiveRequest[]; matches: PrefixMatch[] | null } | null {
    const cache = this.cache;
    if (!cache || this.scheduler.waiting === 0) {
      const admitted = this.scheduler.admit(this.batch.rows);
      return admitted.length ? { admitted, matches: null } : null;
    }
    const matches = new Map<LiveRequest, PrefixMatch>();
    const cached = (r: LiveRequest): number => {
      let m = matches.get(r);
      if (!m) matches.set(r, (m = cache.match(r.inputIds)));
      return m.length;
    };
    const admitted = this.scheduler.admit(this.batch.rows, cached, (r, taken) => betterNextRun(r, taken, cached));
    return admitted.length ? { admitted, matches: admitted.map((r) => matches.get(r) ?? cache.match(r.inputIds)) } : null;
  }

  /**
   * A request the main thread ended hands its records back: stopped by a stop
   * string, its decode loop ends normally; aborted, its open slices close as failed.
   */
  private sendAborted(r: LiveRequest, reason: 'stop' | 'abort'): void {
    const t = now();
    if (reason === 'stop') recordFinished(r.trace, t);
    else recordAborted(r.trace, t);
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

  private async dropAborted(): Promise<void> {
    const keep: number[] = [];
    this.batch.rows.forEach((r, i) => {
      const reason = this.aborted.get(r.rid);
      if (reason) {
        this.sendAborted(r, reason);
        this.aborted.delete(r.rid);
      } else keep.push(i);
    });
    // A row still prefilling keeps its entry until it has joined the batch.
    for (const rid of this.aborted.keys()) if (!this.prefilling.some((r) => r.rid === rid)) this.aborted.delete(rid);
    if (keep.length === this.batch.size) return;
    await this.repack(keep, now());
    this.report([]);
  }

  /** Keeps the chosen rows of the running batch; the rows that stay record the repack. */
  private repack(keep: number[], t: number): Promise<void> {
    return this.rebatch([{ batch: this.batch, keep }], t);
  }

  /**
   * The running batch becomes the kept rows of `parts`. A repack that fails
   * (on a GPU it is a run of its own) ends the requests whose cache it was
   * moving, never the worker.
   */
  private async rebatch(parts: { batch: RunningBatch<LiveRequest>; keep: readonly number[] }[], t: number): Promise<void> {
    // A slot repack only moves the rows that fill holes: its slice is that move, not what ran since `t`.
    if (this.slots) t = now();
    try {
      // Every batch of the worker has its layout.
      this.batch = this.slots
        ? SlotBatch.repack(parts as { batch: SlotBatch<LiveRequest>; keep: readonly number[] }[])
        : await KvBatch.repack(this.runner, parts as { batch: KvBatch<LiveRequest>; keep: readonly number[] }[]);
    } catch (err) {
      this.batch = this.emptyBatch();
      this.sendFailed(
        parts.flatMap(({ batch, keep }) => keep.map((i) => batch.rows[i])),
        (err as Error).message,
      );
      return;
    }
    this.batchChanged(t);
  }

  private batchChanged(t: number): void {
    const done = now();
    const id = ++this.batchId;
    const rows = this.batch.rows;
    for (let i = 0; i < rows.length; i++) recordBatchChange(rows[i].trace, t, done, id, rows.length);
  }

  private async prefill(admitted: LiveRequest[], matches: readonly PrefixMatch[] | null): Promise<void> {
    const admittedAt = now();
    const batchId = ++this.batchId;
    for (const r of admitted) recordScheduled(r.trace, admittedAt, batchId, admitted.length);
    // Until the fresh rows are in the running batch, an abort finds them here (on a GPU, the prefix cache's
    // download and the join are runs of their own, and messages come in while they run; slot prefills
    // run a chunk at a time, with decode steps between).
    this.prefilling = admitted;
    let result;
    try {
      if (this.slots) {
        this.pending = this.startSlotPrefill(this.slots, admitted, matches);
        return await this.stepPrefill(this.pending);
      }
      result = await this.prefillDense(admitted, matches);
    } catch (err) {
      this.prefilling = [];
      this.sendFailed(admitted, (err as Error).message);
      return;
    }
    await this.join(result);
  }

  /** Runs a slot prefill's next chunk; once it has run them all, its rows join the batch. */
  private async stepPrefill(prefill: SlotPrefill<LiveRequest>): Promise<void> {
    const admitted = this.prefilling;
    try {
      await prefill.step();
    } catch (err) {
      this.pending = null;
      this.prefilling = [];
      this.sendFailed(admitted, (err as Error).message);
      return;
    }
    if (!prefill.finished) return;
    this.pending = null;
    await this.join(prefill.result());
  }

  /** The prefilled rows sample their first tokens, go into the prefix cache, and join the running batch. */
  private async join(result: { batch: RunningBatch<LiveRequest>; logits: RowLogits; chunks: ChunkTiming[] }): Promise<void> {
    const admitted = this.prefilling;
    const outputs: TokenOutput[] = [];
    try {
      const { batch: fresh, logits, chunks } = result;
      const keepFresh = this.sampleRows(fresh.rows, logits, outputs);
      const sampled = now();
      for (const r of admitted) recordPrefill(r.trace, chunks, admitted.length, sampled);
      if (this.cache) await this.insertPrompts(this.cache, fresh);
      const keepOld = this.batch.rows.map((_, i) => i);
      // Slots: the fresh rows sit after where the running ones were when they were placed; the batch must start at slot 0.
      if (this.batch.size || keepFresh.length < fresh.size || this.slots) {
        await this.rebatch(
          [
            { batch: this.batch, keep: keepOld },
            { batch: fresh, keep: keepFresh },
          ],
          sampled,
        );
      } else {
        this.batch = fresh;
      }
    } finally {
      this.prefilling = [];
    }
    this.report(outputs);
  }

  private prefillDense(
    admitted: LiveRequest[],
    matches: readonly PrefixMatch[] | null,
  ): Promise<{ batch: RunningBatch<LiveRequest>; logits: RowLogits; chunks: ChunkTiming[] }> {
    const cached = this.cache && matches ? copyIntoDense(this.cache, this.runner, admitted, matches, this.overBudget(admitted)) : null;
    return KvBatch.prefill(
      this.runner,
      admitted,
      admitted.map((r) => r.inputIds),
      this.scheduler.limits.maxPrefillTokens,
      cached,
    );
  }

  /**
   * Places the admitted rows in slots after the running ones and starts
   * their prefill: each row starts after its own cached prefix (copied
   * straight into its slot), so no row recomputes what the prefix cache holds.
   */
  private startSlotPrefill(slots: SlotCache, admitted: LiveRequest[], matches: readonly PrefixMatch[] | null): SlotPrefill<LiveRequest> {
    const cached = admitted.map((_, i) => matches?.[i].length ?? 0);
    let capacity = 0;
    for (const r of this.batch.rows) capacity = Math.max(capacity, reservation(r));
    for (const r of admitted) capacity = Math.max(capacity, reservation(r));
    const at = SlotBatch.place(
      slots,
      this.batch as SlotBatch<LiveRequest>,
      admitted.map((r, i) => r.promptLength - cached[i]),
      capacity,
    );
    if (this.cache && matches) copyIntoSlots(this.cache, slots, at, admitted, matches, this.overBudget(admitted));
    return new SlotPrefill(
      this.runner,
      slots,
      at,
      admitted,
      admitted.map((r) => r.inputIds),
      cached,
      this.scheduler.limits.maxPrefillTokens,
    );
  }

  /** Tokens the prefix cache holds beyond what the budget leaves it once the running and admitted rows may grow to their reservations. */
  private overBudget(admitted: readonly LiveRequest[]): number {
    return this.cache!.size + this.scheduler.reserved([...this.batch.rows, ...admitted]) - this.scheduler.limits.maxTotalTokens;
  }

  /** Puts the fresh rows' prompts into the cache, within what the running rows leave of the budget. */
  private async insertPrompts(cache: PrefixCache, fresh: RunningBatch<LiveRequest>): Promise<void> {
    const room = this.scheduler.limits.maxTotalTokens - this.scheduler.reserved([...this.batch.rows, ...fresh.rows]);
    // The batch's KV comes to the host (from a device, a download) once, for every row: each row's insert starts there.
    const start = now();
    let src;
    try {
      src = await fresh.kvSource(this.runner);
    } catch {
      // Only the cache misses out; the requests go on (a device that has failed fails their next run, which ends them).
      return;
    }
    fresh.rows.forEach((r, i) => {
      const change = cache.insert(r.inputIds, src.data, src.row(i), src.length, src.start(i), room);
      recordCacheInsert(r.trace, start, now(), change.evicted, cache.size);
    });
  }

  /** The decode step: one token for every running request. */
  private async decode(): Promise<void> {
    const rows = this.batch.rows;
    const past = this.batch.pastLength;
    const start = now();
    let step;
    try {
      step = await this.batch.decode(this.runner);
    } catch (err) {
      this.sendFailed(rows, (err as Error).message);
      this.batch.release(this.runner);
      this.batch = this.emptyBatch();
      return;
    }
    const ran = now();
    const outputs: TokenOutput[] = [];
    const keep = this.sampleRows(rows, step.logits, outputs);
    const timing: DecodeTiming = { start, preparedAt: step.preparedAt, ran, sampled: now(), batchSize: rows.length, pastLength: past };
    for (let i = 0; i < rows.length; i++) recordDecodeStep(rows[i].trace, timing);
    if (keep.length < rows.length) await this.repack(keep, timing.sampled);
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
      const out: TokenOutput = { rid: r.rid, token, finish, cached: r.cachedTokens };
      if (r.logprobs >= 0) this.sampler.logprobs(logits.data, logits.offset(i), token, r.logprobs, (out.logprobs = []));
      outputs.push(out);
    }
    return keep;
  }

  /** Hands the step's tokens to the main thread; requests that ended close their decode loop here. */
  private report(outputs: TokenOutput[]): void {
    const sentAt = now();
    const traces: RequestRecords[] = [];
    for (const r of this.ended) {
      recordFinished(r.trace, sentAt);
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
        cacheTokens: this.cache?.size ?? 0,
        evictedTokens: this.cache?.evictedTotal ?? 0,
        runs: this.runner.transfers.runs,
        bytesToDevice: this.runner.transfers.toDevice,
        bytesFromDevice: this.runner.transfers.fromDevice,
      },
    });
  }
}
