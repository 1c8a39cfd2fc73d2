import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { Device, DeviceChoice } from './devices.js';
import { DeviceError, EngineClosedError, InferenceError, InvalidRequestError, ModelError, SglError } from '../errors.js';
import type { FromWorker, GenerateRequest, RunnerInfo, SchedulerStats, ToWorker, WorkerConfig } from '../protocol.js';
import type { ModelSpec } from './model_dir.js';
import { loadModelSpec } from './model_dir.js';
import { prepareRequest } from './request.js';
import type { Tokenize } from './request.js';
import { RequestStream } from './request_stream.js';
import { NoTokenizer, TextTokenizer } from './tokenizer/tokenizer.js';
import type { ModelTokenizer } from './tokenizer/tokenizer.js';
import { TokenizerPool } from './tokenizer/tokenizer_pool.js';
import { now } from '../tracing/clock.js';
import { S } from '../tracing/stages.js';
import { parseTraceparent } from '../tracing/traceparent.js';
import { Tracing } from '../tracing/tracing.js';
import { startThread } from '../thread.js';
import { SGL_VERSION } from '../version.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ENGINE_DEFAULTS } from './engine_defaults.js';

export type { Device, DeviceChoice } from './devices.js';
export { ENGINE_DEFAULTS } from './engine_defaults.js';

export interface EngineOptions {
  /** A model directory; the embedded default model when absent. */
  modelPath?: string;
  /** Where the model runs; `auto` takes a GPU provider that starts, else the CPU (the engine's `device` says which). */
  device?: DeviceChoice;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  interOpThreads?: number;
  maxRunningRequests?: number;
  maxPrefillTokens?: number;
  /** KV cache budget in MiB. */
  kvCacheMb?: number;
  /** Tokenizer processes (tokenization and chat templates, off the caller's event loop). */
  tokenizerProcesses?: number;
  /** How long tokenizing one request may take before it fails with a 400. */
  tokenizeTimeoutMs?: number;
  /** Largest prompt (or messages' content) in UTF-8 bytes; default: the context length times the longest token. */
  maxPromptBytes?: number;
  /** Tracing and metrics; off when absent. */
  tracing?: Tracing;
  /** Prefill every prompt from scratch (SGLang's --disable-radix-cache). */
  disablePrefixCache?: boolean;
  /** Load no tokenizer: requests come as token ids and leave as token ids (vLLM's and SGLang's --skip-tokenizer-init). */
  skipTokenizerInit?: boolean;
}

/** Where requests are tokenized: tokenizer processes, or nowhere (a tokenizer-less engine refuses text). */
type Tokenizers = Tokenize & { close(): void };

function textless(tokenizer: NoTokenizer): Tokenizers {
  return { encode: async () => tokenizer.encode(), applyChatTemplate: async () => tokenizer.applyChatTemplate(), close: () => {} };
}

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

const ERROR_KINDS: Record<string, new (message: string) => SglError> = { ModelError, DeviceError };

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

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
    private readonly tokenizers: Tokenizers,
    /** Prompts longer than this cannot fit the context, whatever they tokenize to. */
    readonly maxPromptBytes: number,
    readonly device: Device,
    private readonly worker: Worker,
    readonly tracing: Tracing,
  ) {
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err) => this.close(new EngineClosedError(`The scheduler thread failed: ${err.message}`)));
    worker.on('exit', () => this.close(new EngineClosedError('The engine has shut down.')));
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const spec = loadModelSpec(options.modelPath);
    const cfg: WorkerConfig = {
      onnxPath: spec.onnxPath,
      device: options.device ?? ENGINE_DEFAULTS.device,
      intraOpThreads: options.threads ?? availableParallelism(),
      interOpThreads: options.interOpThreads ?? 1,
      contextLength: spec.contextLength,
      kvCacheBytes: (options.kvCacheMb ?? ENGINE_DEFAULTS.kvCacheMb) * 2 ** 20,
      timeOrigin: performance.timeOrigin,
      traceModules: [...(options.tracing?.modules ?? [])],
      prefixCache: !options.disablePrefixCache,
      limits: {
        maxRunningRequests: options.maxRunningRequests ?? ENGINE_DEFAULTS.maxRunningRequests,
        maxPrefillTokens: options.maxPrefillTokens ?? ENGINE_DEFAULTS.maxPrefillTokens,
      },
    };
    const worker = startThread(import.meta.url, 'worker/worker_main', cfg);
    const workerReady = new Promise<RunnerInfo>((resolve, reject) => {
      const onMessage = (msg: FromWorker): void => {
        if (msg.type === 'ready') resolve(msg.info);
        else if (msg.type === 'fatal') reject(new (ERROR_KINDS[msg.kind] ?? SglError)(msg.message));
      };
      worker.once('message', onMessage);
      worker.once('error', (err) => reject(new EngineClosedError(`The scheduler thread failed to start: ${err.message}`)));
    });
    // The scheduler thread, the tokenizer processes and this thread's own tokenizer (for detokenizing) load side by side;
    // if any fails, nothing is left running.
    const noTokenizer = options.skipTokenizerInit ? new NoTokenizer() : null;
    const pool = noTokenizer
      ? textless(noTokenizer)
      : TokenizerPool.start(
          spec.dir,
          options.tokenizerProcesses ?? ENGINE_DEFAULTS.tokenizerProcesses,
          options.tokenizeTimeoutMs ?? ENGINE_DEFAULTS.tokenizeTimeoutMs,
        );
    let tokenizer: ModelTokenizer | null = noTokenizer;
    let tokenizerFailure: unknown = null;
    try {
      tokenizer ??= new TextTokenizer(spec);
    } catch (err) {
      tokenizerFailure = err;
    }
    const [ready, started] = await Promise.allSettled([workerReady, pool]);
    const failure = tokenizerFailure
      ? tokenizerFailure
      : ready.status === 'rejected'
        ? ready.reason
        : started.status === 'rejected'
          ? started.reason
          : spec.vocabSize !== null && spec.vocabSize !== ready.value.vocabSize
            ? new ModelError(`The model's config says vocab_size ${spec.vocabSize} but its logits have ${ready.value.vocabSize} entries.`)
            : null;
    if (failure || !tokenizer || ready.status === 'rejected' || started.status === 'rejected') {
      await worker.terminate();
      if (started.status === 'fulfilled') started.value.close();
      throw failure;
    }
    const info = ready.value;
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
    if (tracing.metrics) tracing.metrics.maxTotalTokens = info.limits.maxTotalTokens;
    const maxPromptBytes = options.maxPromptBytes ?? spec.contextLength * tokenizer.maxTokenBytes;
    return new Engine(spec, info, tokenizer, started.value, maxPromptBytes, device, worker, tracing);
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
        if (this.tracing.metrics) {
          this.tracing.metrics.running = msg.stats.running;
          this.tracing.metrics.queued = msg.stats.waiting;
          this.tracing.metrics.kvTokens = msg.stats.kvTokens;
          this.tracing.metrics.cacheTokens = msg.stats.cacheTokens;
        }
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
