/**
 * The scheduler thread (SGLang's scheduler process): it owns the onnxruntime
 * session and the running batch, and loops recv → schedule → run batch →
 * process results. The main thread talks to it only through protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FinishReason, FromWorker, RunnerInfo, ToWorker, TokenOutput, WorkerConfig, WorkerRequest } from '../protocol.js';
import type { BatchRow } from './kv_batch.js';
import { KvBatch } from './kv_batch.js';
import type { RowLogits } from './model_runner.js';
import { ModelRunner } from './model_runner.js';
import { Rng } from './rng.js';
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
}

function live(req: WorkerRequest): LiveRequest {
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
  };
}

class SchedulerWorker {
  private batch = KvBatch.empty<LiveRequest>();
  private readonly aborted = new Set<string>();
  private readonly sampler: Sampler;
  private looping = false;

  constructor(
    private readonly runner: ModelRunner,
    private readonly scheduler: Scheduler<LiveRequest>,
    private readonly contextLength: number,
    private readonly send: (msg: FromWorker) => void,
  ) {
    this.sampler = new Sampler(runner.vocabSize);
  }

  onMessage(msg: ToWorker): void {
    switch (msg.type) {
      case 'add':
        this.scheduler.enqueue(live(msg.req));
        this.kick();
        break;
      case 'abort':
        if (this.scheduler.remove(msg.rid)) this.send({ type: 'finished', rid: msg.rid, reason: 'abort' });
        else if (this.batch.rows.some((r) => r.rid === msg.rid)) this.aborted.add(msg.rid);
        break;
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

  private dropAborted(): void {
    const keep: number[] = [];
    this.batch.rows.forEach((r, i) => {
      if (this.aborted.has(r.rid)) this.send({ type: 'finished', rid: r.rid, reason: 'abort' });
      else keep.push(i);
    });
    this.aborted.clear();
    this.batch = KvBatch.repack(this.runner, [{ batch: this.batch, keep }]);
    this.report([]);
  }

  private async prefill(admitted: LiveRequest[]): Promise<void> {
    let result;
    try {
      result = await KvBatch.prefill(this.runner, admitted, admitted.map((r) => r.inputIds), this.scheduler.limits.maxPrefillTokens);
    } catch (err) {
      this.send({ type: 'failed', rids: admitted.map((r) => r.rid), message: (err as Error).message });
      return;
    }
    const { batch: fresh, logits } = result;
    const outputs: TokenOutput[] = [];
    const keepFresh = this.sampleRows(fresh.rows, logits, outputs);
    const keepOld = this.batch.rows.map((_, i) => i);
    this.batch = this.batch.size || keepFresh.length < fresh.size
      ? KvBatch.repack(this.runner, [{ batch: this.batch, keep: keepOld }, { batch: fresh, keep: keepFresh }])
      : fresh;
    this.report(outputs);
  }

  private async decode(): Promise<void> {
    let logits;
    try {
      logits = await this.batch.decode(this.runner);
    } catch (err) {
      this.send({ type: 'failed', rids: this.batch.rows.map((r) => r.rid), message: (err as Error).message });
      this.batch = KvBatch.empty();
      return;
    }
    const outputs: TokenOutput[] = [];
    const keep = this.sampleRows(this.batch.rows, logits, outputs);
    if (keep.length < this.batch.size) this.batch = KvBatch.repack(this.runner, [{ batch: this.batch, keep }]);
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
      outputs.push({ rid: r.rid, token, finish });
    }
    return keep;
  }

  private report(outputs: TokenOutput[]): void {
    this.send({
      type: 'tokens',
      outputs,
      stats: {
        running: this.batch.size,
        waiting: this.scheduler.waiting,
        kvTokens: this.batch.kvTokens,
        reservedTokens: this.scheduler.reserved(this.batch.rows),
      },
    });
  }
}

async function main(): Promise<void> {
  const port = parentPort!;
  const cfg = workerData as WorkerConfig;
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
  const worker = new SchedulerWorker(runner, new Scheduler<LiveRequest>(limits), cfg.contextLength, send);
  port.on('message', (msg: ToWorker) => worker.onMessage(msg));
  send({ type: 'ready', info });
}

void main();
