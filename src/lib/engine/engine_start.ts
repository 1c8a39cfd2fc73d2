import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { DeviceError, EngineClosedError, ModelError, SglError } from '../errors.js';
import type { FromWorker, RunnerInfo, WorkerConfig } from '../protocol.js';
import { startThread } from '../thread.js';
import { ENGINE_DEFAULTS } from './engine_defaults.js';
import type { EngineOptions } from './engine_defaults.js';
import type { ModelSpec } from './model_dir.js';
import type { Tokenize } from './request.js';
import { NoTokenizer, TextTokenizer } from './tokenizer/tokenizer.js';
import type { ModelTokenizer } from './tokenizer/tokenizer.js';
import { TokenizerPool } from './tokenizer/tokenizer_pool.js';

/** Where requests are tokenized: tokenizer processes, or nowhere (a tokenizer-less engine refuses text). */
export type EngineTokenizers = Tokenize & { close(): void };

function textless(tokenizer: NoTokenizer): EngineTokenizers {
  return { encode: async () => tokenizer.encode(), applyChatTemplate: async () => tokenizer.applyChatTemplate(), close: () => {} };
}

const ERROR_KINDS: Record<string, new (message: string) => SglError> = { ModelError, DeviceError };

/** A file's SHA-256, read as a stream (model files run to gigabytes). */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What an engine is made of once every part has started. */
export interface EngineParts {
  cfg: WorkerConfig;
  worker: Worker;
  /** What the worker says the model is. */
  info: RunnerInfo;
  /** This thread's tokenizer, for detokenizing. */
  tokenizer: ModelTokenizer;
  /** Where requests are tokenized. */
  tokenizers: EngineTokenizers;
  /** Resolves once the worker has made its KV cache resident (or has ended). */
  warm: Promise<void>;
}

/**
 * Starts the scheduler thread, the tokenizer processes and this thread's own
 * tokenizer (for detokenizing) side by side; if any fails, nothing is left
 * running and the first failure is thrown.
 */
export async function startParts(spec: ModelSpec, options: EngineOptions): Promise<EngineParts> {
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
  // Listened for from the start: the worker warms its cache as soon as it is ready, before the engine listens.
  let resolveWarm = (): void => {};
  const warm = new Promise<void>((resolve) => {
    resolveWarm = resolve;
    const onMessage = (msg: FromWorker): void => {
      if (msg.type !== 'warm') return;
      worker.off('message', onMessage);
      resolve();
    };
    worker.on('message', onMessage);
    worker.once('exit', () => resolve());
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
  // Only the slot layout warms a cache (worker/idle_warmer.ts); the others are warm from the start, and say nothing.
  if (ready.status === 'fulfilled' && ready.value.kvLayout !== 'slots') resolveWarm();
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
  return { cfg, worker, info: ready.value, tokenizer, tokenizers: started.value, warm };
}
