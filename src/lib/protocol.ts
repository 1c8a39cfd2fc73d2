/**
 * The request and result types that cross thread boundaries: the public
 * Engine API and the messages between the main thread (tokenizer manager)
 * and the scheduler worker.
 */

export type FinishReason = 'stop' | 'length' | 'abort';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface SamplingParams {
  maxTokens: number;
  /** 0 means greedy. */
  temperature: number;
  /** 1 disables nucleus sampling. */
  topP: number;
  /** 0 disables top-k. */
  topK: number;
  seed: number | null;
  stop: readonly string[];
  stopTokenIds: readonly number[];
  ignoreEos: boolean;
}

/** The sampling fields, declared once: the engine's name of each and the name clients send (OpenAI, SGLang). */
export const SAMPLING_FIELDS = {
  maxTokens: 'max_tokens',
  temperature: 'temperature',
  topP: 'top_p',
  topK: 'top_k',
  seed: 'seed',
  stop: 'stop',
  stopTokenIds: 'stop_token_ids',
  ignoreEos: 'ignore_eos',
} as const satisfies Record<keyof SamplingParams, string>;

/** The wire name of a request field path (`maxTokens` → `max_tokens`, `inputIds[3]` → `prompt[3]`: token ids are the prompt). */
export function wireName(path: string): string {
  return path.replace(/^[A-Za-z]+/, (head) => (head === 'inputIds' ? 'prompt' : ((SAMPLING_FIELDS as Record<string, string>)[head] ?? head)));
}

/** What a caller asks for: exactly one of prompt, inputIds or messages. */
export interface GenerateRequest {
  rid?: string;
  prompt?: string;
  inputIds?: readonly number[];
  messages?: readonly ChatMessage[];
  sampling?: Partial<SamplingParams>;
  /** Return each output token's log-probability and this many most likely alternatives (0 to MAX_TOP_LOGPROBS); none when absent. */
  logprobs?: number;
}

/** The most alternatives a request may ask log-probabilities for (OpenAI's top_logprobs limit). */
export const MAX_TOP_LOGPROBS = 20;

/** A generated token's log-probability under the model, and the most likely tokens at its position, most likely first. */
export interface TokenLogprob {
  token: number;
  logprob: number;
  top: { token: number; logprob: number }[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  cachedTokens: number;
}

/**
 * A request's own timing, returned with its response when asked for
 * (`include_timing`): its stages up to level 2 as offsets from its arrival
 * (milliseconds, µs precision), and the part of arrival → the response
 * being ready that no stage covers. Wire names, as clients read them.
 */
export interface RequestTiming {
  /** From the request's arrival to its final response being ready (the writing of that response is not in it). */
  e2e_ms: number;
  ttft_ms: number | null;
  queue_ms: number;
  cached_tokens: number;
  /** The part of e2e_ms no listed stage covers. */
  unexplained_ms: number;
  /** The request's trace: its root span, sampled flag set when the trace is exported. */
  traceparent: string;
  stages: { name: string; thread: 'main' | 'worker'; start_ms: number; duration_ms: number }[];
}

/** One step of a request's output. The last chunk has a finishReason. */
export interface GenerateChunk {
  rid: string;
  tokenIds: number[];
  /** Text that became final with this chunk (never half a character). */
  text: string;
  finishReason: FinishReason | null;
  usage: Usage;
  /** One entry per token id, when the request asked for log-probabilities. */
  logprobs?: TokenLogprob[];
  /** On the last chunk, when the request asked for its timing. */
  timing?: RequestTiming;
}

/** A request as the scheduler sees it: tokens in, limits, sampling. */
export interface WorkerRequest {
  rid: string;
  inputIds: number[];
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stopTokenIds: number[];
  /** Alternatives to report log-probabilities for; -1: no log-probabilities. */
  logprobs: number;
  /** How the worker traces its side of the request; null when nothing is recorded. */
  trace: WorkerTraceContext | null;
}

/** The request's trace context as it crosses to the worker. */
export interface WorkerTraceContext {
  /** W3C traceparent of the request's trace, so both threads' records land in one trace. */
  traceparent: string;
  /** The request's span level, fixed when it started (0 when it is not sampled). */
  level: 0 | 1 | 2 | 3;
  metrics: boolean;
  /** When the main thread handed the request over (clock ms, see tracing/clock.ts). */
  dispatchedAt: number;
  /** The request's own trace modules (names from tracing/stages.ts), when they are not the engine's (one asking for its timing adds `request`). */
  modules?: readonly string[];
}

/** What the worker recorded for one request, sent back when the request ends there. */
export interface RequestRecords {
  rid: string;
  traceparent: string;
  records: Float64Array;
}

export interface EngineLimits {
  maxRunningRequests: number;
  /** Padded tokens one prefill run may take; longer prompts are prefilled in chunks of this size. */
  maxPrefillTokens: number;
  /** KV cache budget in tokens of the dense batch (rows × padded length). */
  maxTotalTokens: number;
}

export interface WorkerConfig {
  onnxPath: string;
  /** A device, or `auto` (see engine/devices.ts). */
  device: 'cpu' | 'webgpu' | 'cuda' | 'auto';
  intraOpThreads: number;
  interOpThreads: number;
  contextLength: number;
  kvCacheBytes: number;
  limits: Omit<EngineLimits, 'maxTotalTokens'>;
  /** The main thread's performance.timeOrigin: the worker puts its timestamps on the same base. */
  timeOrigin: number;
  /** Trace modules that are on (names from tracing/stages.ts). */
  traceModules: string[];
  /** Whether to keep a prefix cache (on unless --disable-prefix-cache). */
  prefixCache: boolean;
}

/** What the worker learned from the onnxruntime session. */
export interface RunnerInfo {
  numLayers: number;
  kvHeads: number;
  headDim: number;
  kvType: 'float32' | 'float16';
  vocabSize: number;
  hasPositionIds: boolean;
  kvBytesPerToken: number;
  /** How the model meets the KV cache: slots written in place, or the dense batch (engine/running_batch.ts). */
  kvLayout: 'slots' | 'dense' | 'gqa';
  limits: EngineLimits;
  /** The prefix cache: on, off (asked so), or unsupported and why. */
  prefixCache: { on: boolean; why: string };
  /** The device the session runs on, and why `auto` chose it. */
  device: 'cpu' | 'webgpu' | 'cuda';
  deviceWhy?: string;
}

export interface TokenOutput {
  rid: string;
  token: number;
  finish: FinishReason | null;
  /** Prompt tokens the prefix cache supplied (the same on every token of a request). */
  cached: number;
  /** When asked: [logprob of token, id1, logprob1, ...] (Sampler.logprobs). */
  logprobs?: number[];
}

export interface SchedulerStats {
  running: number;
  waiting: number;
  /** Rows × padded length of the current KV batch. */
  kvTokens: number;
  /** Reserved KV tokens of admitted requests (their worst case). */
  reservedTokens: number;
  /** KV tokens the prefix cache holds (it shares the budget with the batch). */
  cacheTokens: number;
  /** KV tokens the prefix cache has evicted since the engine started. */
  evictedTokens: number;
  /** Model runs since the engine started, and the bytes their inputs and outputs moved between host and device (0 on the CPU). */
  runs: number;
  bytesToDevice: number;
  bytesFromDevice: number;
}

/** `stop`: the main thread found a stop string, so the request ends normally; `abort`: the caller gave up on it. */
export type ToWorker = { type: 'add'; req: WorkerRequest } | { type: 'abort'; rid: string; reason: 'stop' | 'abort' } | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ready'; info: RunnerInfo }
  /** The KV cache's memory is resident (the worker touched it while idle): steps no longer pay its page faults. */
  | { type: 'warm' }
  /** `sentAt`: when the worker handed these tokens over; `traces`: records of requests that ended in this step. */
  | { type: 'tokens'; outputs: TokenOutput[]; stats: SchedulerStats; sentAt: number; traces: RequestRecords[] }
  | { type: 'finished'; rid: string; reason: 'stop' | 'abort'; trace: RequestRecords | null }
  | { type: 'failed'; rids: string[]; message: string; traces: RequestRecords[] }
  | { type: 'fatal'; message: string; kind: string };
