import type { Worker } from 'node:worker_threads';
import type { Device } from './devices.js';
import { EngineClosedError, InferenceError, InvalidRequestError } from '../errors.js';
import type { FromWorker, GenerateRequest, RunnerInfo, SchedulerStats, ToWorker } from '../protocol.js';
import type { ModelSpec } from './model_dir.js';
import { loadModelSpec } from './model_dir.js';
import { prepareRequest } from './request.js';
import { RequestStream } from './request_stream.js';
import type { ModelTokenizer } from './tokenizer/tokenizer.js';
import { now } from '../tracing/clock.js';
import { S } from '../tracing/stages.js';
import { parseTraceparent } from '../tracing/traceparent.js';
import { Tracing } from '../tracing/tracing.js';
import { SGL_VERSION } from '../version.js';
import { ENGINE_DEFAULTS } from './engine_defaults.js';
import { fileSha256, startParts } from './engine_start.js';
import type { EngineTokenizers } from './engine_start.js';

export type { Device, DeviceChoice } from './devices.js';
export { ENGINE_DEFAULTS } from './engine_defaults.js';
export type { EngineOptions } from './engine_defaults.js';
import type { EngineOptions } from './engine_defaults.js';

/** Where a request comes from, for tracing: the caller's W3C trace context and arrival. */
export interface RequestContext {
  traceparent?: string;
  tracestate?: string;
  /** When the request arrived (tracing clock, ms), if before generate(): the time until then is parse_request. */
  arrivedAt?: number;
  /** The request's rid came from a remote client: traces record it hashed unless they capture content. */
  clientRid?: boolean;
  /** Put the request's own stage timing on its last chunk (recorded at level 2 at least; see Tracing.startRequest). */
  includeTiming?: boolean;
}

const NO_TRACING = new Tracing();

/**
 * The in-process inference engine: tokenization, detokenization and the
 * public API on the calling thread; the scheduler and the onnxruntime session
 * on a worker thread. Used by every sgl command.
 */
export class Engine {
  private readonly streams = new Map<string, RequestStream>();
  private latestStats: SchedulerStats = {
    running: 0,
    waiting: 0,
    kvTokens: 0,
    reservedTokens: 0,
    cacheTokens: 0,
    evictedTokens: 0,
    runs: 0,
    bytesToDevice: 0,
    bytesFromDevice: 0,
  };
  private closed: Error | null = null;

  private constructor(
    readonly spec: ModelSpec,
    readonly info: RunnerInfo,
    /** For detokenizing (incremental, per token) and for callers preparing workloads; requests are tokenized by `tokenizers`. */
    readonly tokenizer: ModelTokenizer,
    private readonly tokenizers: EngineTokenizers,
    /** Prompts longer than this cannot fit the context, whatever they tokenize to. */
    readonly maxPromptBytes: number,
    readonly device: Device,
    private readonly worker: Worker,
    readonly tracing: Tracing,
    /**
     * Resolves once the worker has made its KV cache resident, touching its
     * pages while idle (a page's first write is a page fault, paid otherwise
     * by the steps of the first burst to reach it); at once for layouts
     * without one. Bench and replay wait for it before they measure.
     */
    readonly warm: Promise<void>,
  ) {
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err) => this.close(new EngineClosedError(`The scheduler thread failed: ${err.message}`)));
    worker.on('exit', () => this.close(new EngineClosedError('The engine has shut down.')));
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const spec = loadModelSpec(options.modelPath);
    const { cfg, worker, info, tokenizer, tokenizers, warm } = await startParts(spec, options);
    const device = info.device;
    const tracing = options.tracing ?? NO_TRACING;
    await tracing.attach(
      {
        model: { id: spec.id, dir: spec.dir, onnxPath: spec.onnxPath },
        device,
        version: SGL_VERSION,
        engine: {
          intraOpThreads: cfg.intraOpThreads,
          interOpThreads: cfg.interOpThreads,
          ...info.limits,
          kvCacheMb: options.kvCacheMb ?? ENGINE_DEFAULTS.kvCacheMb,
          prefixCache: info.prefixCache.on ? 1 : 0,
          kvLayout: info.kvLayout,
        },
      },
      tracing.exporting ? await fileSha256(spec.onnxPath) : undefined,
    );
    const maxPromptBytes = options.maxPromptBytes ?? spec.contextLength * tokenizer.maxTokenBytes;
    return new Engine(spec, info, tokenizer, tokenizers, maxPromptBytes, device, worker, tracing, warm);
  }

  /**
   * Starts a request: checks it, tokenizes it (in a tokenizer process) and
   * hands it to the scheduler; resolves with its stream of chunks. An invalid
   * request rejects with InvalidRequestError before anything reaches the
   * scheduler. Breaking out of the iteration aborts it.
   */
  async generate(req: GenerateRequest, context: RequestContext = {}): Promise<RequestStream> {
    if (this.closed) throw this.closed;
    const called = now();
    const arrived = context.arrivedAt ?? called;
    const trace = this.tracing.startRequest(
      context.traceparent ? parseTraceparent(context.traceparent, context.tracestate) : null,
      arrived,
      context.includeTiming === true,
    );
    if (arrived !== called) trace.main.slice(S.parse_request, arrived, called);
    trace.main.begin(S.tokenize, called);
    const { worker, sampling } = await prepareRequest(req, this.tokenizers, this.maxPromptBytes, this.spec, this.info);
    if (this.closed) throw this.closed;
    if (this.streams.has(worker.rid)) throw new InvalidRequestError(`A request with rid ${worker.rid} is already running.`, 'rid');
    if (!this.tokenizer.hasText && sampling.stop.length)
      throw new InvalidRequestError(`Stop strings need text, and this engine runs without a tokenizer (--skip-tokenizer-init); use stop_token_ids.`, 'stop');
    if (trace.timed) {
      const dispatchedAt = now();
      trace.main.end(S.tokenize, dispatchedAt);
      trace.describe({
        rid: worker.rid,
        inputIds: worker.inputIds,
        sampling: { ...sampling, seed: worker.seed },
        chat: req.messages !== undefined,
        clientRid: context.clientRid === true && req.rid !== undefined,
        ...(req.prompt !== undefined ? { prompt: req.prompt } : {}),
        ...(req.messages !== undefined ? { messages: req.messages } : {}),
      });
      worker.trace = trace.workerContext(dispatchedAt);
    }
    const stream = new RequestStream(
      worker.rid,
      worker.inputIds.length,
      sampling.stop,
      this.tokenizer,
      (rid, reason) => this.cancel(rid, reason),
      trace,
      context.includeTiming === true,
    );
    this.streams.set(worker.rid, stream);
    this.post({ type: 'add', req: worker });
    return stream;
  }

  /** Whether a request under this rid is running (a second one would be refused). */
  isRunning(rid: string): boolean {
    return this.streams.has(rid);
  }

  /** Aborts a request: it leaves the queue or the running batch and frees its KV. */
  abort(rid: string): void {
    this.cancel(rid, 'abort');
  }

  private cancel(rid: string, reason: 'stop' | 'abort'): void {
    if (this.closed) return;
    this.post({ type: 'abort', rid, reason });
  }

  /** The scheduler's state after its latest step. */
  stats(): SchedulerStats {
    return this.latestStats;
  }

  async shutdown(): Promise<void> {
    this.tokenizers.close();
    if (this.closed) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.post({ type: 'shutdown' });
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'tokens':
        this.latestStats = msg.stats;
        this.tracing.engineState(msg.stats);
        for (const t of msg.traces) this.streams.get(t.rid)?.trace.workerDone(t.records);
        for (const out of msg.outputs) {
          const stream = this.streams.get(out.rid);
          if (!stream) continue;
          try {
            stream.pushToken(out.token, out.finish, msg.sentAt, out.cached, out.logprobs);
          } catch (err) {
            // A detokenizer failure ends this request, never the engine.
            stream.fail(new InferenceError(`Could not decode the output of request ${out.rid}: ${(err as Error).message}`));
            this.abort(out.rid);
          }
          // The worker is done with a request only when it says so; an early stop on this side still awaits its records.
          if (out.finish) this.streams.delete(out.rid);
        }
        break;
      case 'finished': {
        const stream = this.streams.get(msg.rid);
        stream?.trace.workerDone(msg.trace?.records ?? null);
        stream?.end(msg.reason);
        this.streams.delete(msg.rid);
        break;
      }
      case 'failed':
        for (const t of msg.traces) this.streams.get(t.rid)?.trace.workerDone(t.records);
        for (const rid of msg.rids) {
          this.streams.get(rid)?.fail(new InferenceError(`onnxruntime failed while running request ${rid}: ${msg.message}`));
          this.streams.delete(rid);
        }
        break;
      default:
        break;
    }
  }

  private close(err: Error): void {
    if (this.closed) return;
    this.closed = err;
    for (const stream of this.streams.values()) {
      stream.trace.workerDone(null);
      stream.fail(err);
    }
    this.streams.clear();
  }
}
