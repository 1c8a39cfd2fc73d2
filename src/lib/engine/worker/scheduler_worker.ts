import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker, TokenOutput } from '../../protocol.js';
import { now } from '../../tracing/clock.js';
import type { TraceModule } from '../../tracing/stages.js';
import type { PrefixCache, PrefixMatch } from '../policy/prefix_cache.js';
import type { ModelRunner } from '../onnx/model_runner.js';
import type { RunningBatch } from '../kv/running_batch.js';
import { Sampler } from './sampler.js';
import type { Scheduler } from '../policy/scheduler.js';
import { batchLayout } from './batch_layout.js';
import { insertOutputs, insertPrompts } from './copy_in.js';
import { admitNext } from './prefix_admission.js';
import { sampleRows } from './sample_rows.js';
import { endedMessage, failedMessage, stepStats, tokensMessage } from './worker_messages.js';
import type { BatchLayout, Prefilling, PrefillResult } from './batch_layout.js';
import { live } from './live_request.js';
import type { LiveRequest } from './live_request.js';
import { IdleWarmer } from './idle_warmer.js';
import { recordBatchChange, recordDecodeStep, recordPrefill, recordScheduled } from './step_trace.js';
import type { DecodeTiming } from './step_trace.js';

/**
 * The scheduler loop (SGLang's scheduler process): recv → schedule → run batch → process results, over the
 * running batch and the waiting queue. Stage boundaries go through step_trace.ts; messages through protocol.ts.
 */
export class SchedulerWorker {
  /** The running batch's layout, decided once from the model. */
  private readonly layout: BatchLayout;
  private batch: RunningBatch<LiveRequest>;
  /** Running requests to drop before the next step, and why. */
  private readonly aborted = new Map<string, 'stop' | 'abort'>();
  /** Requests whose prefill is running: in neither the queue nor the batch, and an abort must still find them. */
  private prefilling: readonly LiveRequest[] = [];
  /** A prefill between its steps (slots: its chunks): the running rows decode a step after each. */
  private pending: Prefilling | null = null;
  private readonly sampler: Sampler;
  private looping = false;
  private readonly warmer: IdleWarmer;
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
    this.layout = batchLayout(runner, scheduler.limits, contextLength, cache);
    this.batch = this.layout.empty();
    this.warmer = new IdleWarmer(this.layout, send);
  }

  onMessage(msg: ToWorker): void {
    switch (msg.type) {
      case 'add':
        this.scheduler.enqueue(live(msg.req, this.modules, Math.max(this.freeAt, this.runner.yieldedAt)));
        this.kick();
        break;
      case 'abort': {
        const waiting = this.scheduler.remove(msg.rid);
        if (waiting) this.send(endedMessage(waiting, msg.reason));
        else if (this.batch.rows.some((r) => r.rid === msg.rid) || this.prefilling.some((r) => r.rid === msg.rid)) this.aborted.set(msg.rid, msg.reason);
        break;
      }
      case 'shutdown':
        this.warmer.stop();
        void this.runner.release().finally(() => parentPort?.close());
        break;
    }
  }

  /** Runs the loop unless it runs: on every request, and once at start (its idle turns warm the cache). */
  kick(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop().finally(() => {
      this.looping = false;
    });
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.aborted.size) await this.dropAborted();
      if (this.pending) await this.stepPrefill(this.pending);
      else {
        const next = admitNext(this.scheduler, this.batch.rows, this.cache);
        if (next) await this.prefill(next.admitted, next.matches);
        else if (this.batch.size) await this.decode();
        else if (!this.warmer.turn()) return; // Idle: a slice of the cache made resident, then round again.
      }
      // Chunked prefill beside decoding (slots, gqa): after every chunk but the last, a step of the rows already running.
      if (this.pending && this.batch.size) await this.decode();
      // Let 'add' and 'abort' messages in between steps; one posted during the step waited for this moment.
      this.freeAt = now();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private async dropAborted(): Promise<void> {
    const keep: number[] = [];
    this.batch.rows.forEach((r, i) => {
      const reason = this.aborted.get(r.rid);
      if (reason) {
        this.send(endedMessage(r, reason));
        this.aborted.delete(r.rid);
      } else keep.push(i);
    });
    // A row still prefilling keeps its entry until it has joined the batch.
    for (const rid of this.aborted.keys()) if (!this.prefilling.some((r) => r.rid === rid)) this.aborted.delete(rid);
    if (keep.length === this.batch.size) return;
    await this.rebatch([{ batch: this.batch, keep }], now());
    this.report([]);
  }

  /**
   * The running batch becomes the kept rows of `parts` (the rows that stay record the repack). A repack that fails
   * (on a GPU it is a run of its own) ends the requests whose cache it was moving, never the worker.
   */
  private async rebatch(parts: { batch: RunningBatch<LiveRequest>; keep: readonly number[] }[], t: number): Promise<void> {
    if (this.layout.repackTimedAlone) t = now();
    try {
      this.batch = await this.layout.repack(parts);
    } catch (err) {
      this.batch = this.layout.empty();
      const rows = parts.flatMap(({ batch, keep }) => keep.map((i) => batch.rows[i]));
      this.send(failedMessage(rows, (err as Error).message));
      return;
    }
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
    const cache = this.cache;
    const cacheIn = cache && matches ? { cache, matches, over: () => this.overBudget(admitted) } : null;
    try {
      this.pending = this.layout.startPrefill(this.batch, admitted, cacheIn);
    } catch (err) {
      this.prefilling = [];
      this.send(failedMessage(admitted, (err as Error).message));
      return;
    }
    await this.stepPrefill(this.pending);
  }

  /** Runs a prefill's next step; once it has run them all, its rows join the batch. */
  private async stepPrefill(prefill: Prefilling): Promise<void> {
    const admitted = this.prefilling;
    try {
      await prefill.step();
    } catch (err) {
      this.pending = null;
      this.prefilling = [];
      this.send(failedMessage(admitted, (err as Error).message));
      return;
    }
    if (!prefill.finished) return;
    this.pending = null;
    await this.join(prefill.result());
  }

  /** The prefilled rows sample their first tokens, go into the prefix cache, and join the running batch. */
  private async join(result: PrefillResult): Promise<void> {
    const admitted = this.prefilling;
    const outputs: TokenOutput[] = [];
    try {
      const { batch: fresh, logits, chunks } = result;
      const keepFresh = sampleRows(this.sampler, fresh.rows, logits, this.contextLength, outputs, this.ended);
      const sampled = now();
      for (const r of admitted) recordPrefill(r.trace, chunks, admitted.length, sampled);
      if (this.cache)
        await insertPrompts(
          this.cache,
          this.runner,
          fresh,
          this.scheduler.limits.maxTotalTokens - this.scheduler.reserved([...this.batch.rows, ...fresh.rows]),
        );
      const keepOld = this.batch.rows.map((_, i) => i);
      if (this.batch.size || keepFresh.length < fresh.size || this.layout.joinRebatches) {
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

  /** Tokens the prefix cache holds beyond what the budget leaves it once the running and admitted rows may grow to their reservations. */
  private overBudget(admitted: readonly LiveRequest[]): number {
    return this.cache!.size + this.scheduler.reserved([...this.batch.rows, ...admitted]) - this.scheduler.limits.maxTotalTokens;
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
      this.send(failedMessage(rows, (err as Error).message));
      this.batch.release(this.runner);
      this.batch = this.layout.empty();
      return;
    }
    const ran = now();
    const outputs: TokenOutput[] = [];
    const keep = sampleRows(this.sampler, rows, step.logits, this.contextLength, outputs, this.ended);
    const timing: DecodeTiming = { start, preparedAt: step.preparedAt, ran, sampled: now(), batchSize: rows.length, pastLength: past };
    for (let i = 0; i < rows.length; i++) recordDecodeStep(rows[i].trace, timing);
    if (keep.length < rows.length) {
      // Before the leave moves rows over the ended ones' slots.
      if (this.cache && this.layout.cachesOutputs) await insertOutputs(this.cache, this.runner, this.batch, keep, this.scheduler);
      await this.rebatch([{ batch: this.batch, keep }], timing.sampled);
    }
    this.report(outputs);
  }

  /** Hands the step's tokens to the main thread; requests that ended close their decode loop here. */
  private report(outputs: TokenOutput[]): void {
    const stats = stepStats(this.batch, this.scheduler, this.cache, this.runner);
    this.send(tokensMessage(outputs, this.ended, stats));
    this.ended.length = 0;
  }
}
