import { randomInt, randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../errors.js';
import { isSafeRid } from '../request_id.js';
import { MAX_TOP_LOGPROBS, SAMPLING_FIELDS, wireName } from '../protocol.js';
import type { ChatMessage, GenerateRequest, RunnerInfo, SamplingParams, WorkerRequest } from '../protocol.js';
import type { ModelSpec } from './model_dir.js';

/** max_tokens when the request does not say (SGLang's default for max_new_tokens). */
export const DEFAULT_MAX_TOKENS = 128;
const MAX_STOP_STRINGS = 16;

export interface PreparedRequest {
  worker: WorkerRequest;
  sampling: SamplingParams;
}

const SAMPLING_KEYS = new Set(Object.keys(SAMPLING_FIELDS));

function fail(message: string, param: string, code = 'invalid_request'): never {
  throw new InvalidRequestError(message, param, code, wireName(param));
}

/** A value as the client wrote it (JSON.stringify would show 1e309, parsed as Infinity, as null). */
const shown = (value: unknown): string => (typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value))).slice(0, 64);

function integer(value: unknown, param: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(`${wireName(param)} must be an integer, got ${shown(value)}.`, param);
  if (value < min || value > max) fail(`${wireName(param)} must be between ${min} and ${max}, got ${value}.`, param);
  return value;
}

function finite(value: unknown, param: string, min: number, max: number, minExclusive = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${wireName(param)} must be a finite number, got ${shown(value)}.`, param);
  if (value < min || value > max || (minExclusive && value === min)) {
    fail(`${wireName(param)} must be ${minExclusive ? 'greater than' : 'at least'} ${min} and at most ${max}, got ${value}.`, param);
  }
  return value;
}

function tokenIds(value: unknown, param: string, vocab: number): number[] {
  if (!Array.isArray(value)) fail(`${wireName(param)} must be an array of token ids.`, param);
  return value.map((v, i) => integer(v, `${param}[${i}]`, 0, vocab - 1));
}

/** Where a request's text becomes token ids (the tokenizer processes, off the caller's event loop). */
export interface Tokenize {
  encode(text: string): Promise<number[]>;
  applyChatTemplate(messages: readonly ChatMessage[]): Promise<number[]>;
}

type Input = { ids: number[] } | { text: string } | { messages: ChatMessage[] };

/** The request's input, checked for shape and size without tokenizing it. */
function checkInput(req: GenerateRequest, vocab: number, maxBytes: number, context: number): Input {
  const tooBig = (bytes: number, param: string): void => {
    if (bytes > maxBytes)
      fail(
        `The ${param === 'prompt' ? 'prompt is' : 'messages are'} ${bytes} bytes, more than the ${maxBytes} bytes that could fit the model's context of ${context} tokens; shorten ${param === 'prompt' ? 'it' : 'them'}.`,
        param,
        'context_length_exceeded',
      );
  };
  if (req.prompt !== undefined) {
    if (typeof req.prompt !== 'string') fail('prompt must be a string.', 'prompt');
    tooBig(Buffer.byteLength(req.prompt), 'prompt');
    return { text: req.prompt };
  }
  if (req.inputIds !== undefined) {
    if (Array.isArray(req.inputIds) && req.inputIds.length >= context)
      fail(
        `The prompt has ${req.inputIds.length} tokens, but the model's context length is ${context}; shorten the prompt.`,
        'inputIds',
        'context_length_exceeded',
      );
    return { ids: tokenIds(req.inputIds, 'inputIds', vocab) };
  }
  const messages = req.messages;
  if (!Array.isArray(messages) || messages.length === 0) fail('messages must be a non-empty array.', 'messages');
  let bytes = 0;
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string') {
      fail(`messages[${i}] must be an object with string role and content.`, `messages[${i}]`);
    }
    bytes += Buffer.byteLength(m.content);
  });
  tooBig(bytes, 'messages');
  return { messages };
}

/**
 * Checks a request and turns it into what the scheduler runs. Every problem
 * is an InvalidRequestError naming the field, raised before anything reaches
 * the worker; everything that needs no tokens is checked before tokenizing,
 * and a prompt too large to fit the context is refused by its size alone.
 */
export async function prepareRequest(
  req: GenerateRequest,
  tokenize: Tokenize,
  maxPromptBytes: number,
  spec: ModelSpec,
  info: RunnerInfo,
): Promise<PreparedRequest> {
  if (typeof req !== 'object' || req === null) fail('The request must be an object.', 'request');
  const vocab = info.vocabSize;
  const context = spec.contextLength;
  const sources = (['prompt', 'inputIds', 'messages'] as const).filter((k) => req[k] !== undefined);
  if (sources.length !== 1) fail('Give exactly one of prompt, inputIds or messages.', sources[1] ?? 'prompt');
  const rid = req.rid ?? randomUUID().replaceAll('-', '');
  if (typeof rid !== 'string' || !isSafeRid(rid)) fail('rid must be 1 to 256 printable ASCII characters, without leading or trailing spaces.', 'rid');
  const input = checkInput(req, vocab, maxPromptBytes, context);
  const logprobs = req.logprobs === undefined ? -1 : integer(req.logprobs, 'logprobs', 0, MAX_TOP_LOGPROBS);

  const s = req.sampling ?? {};
  if (typeof s !== 'object' || s === null || Array.isArray(s)) fail('sampling must be an object.', 'sampling');
  for (const key of Object.keys(s)) if (!SAMPLING_KEYS.has(key)) fail(`Unknown sampling parameter ${key}.`, key);
  const askedMaxTokens = s.maxTokens === undefined ? null : integer(s.maxTokens, 'maxTokens', 1, context);
  let stop: string[] = [];
  if (s.stop !== undefined) {
    const list: unknown[] =
      typeof s.stop === 'string' ? [s.stop] : Array.isArray(s.stop) ? s.stop : fail('stop must be a string or an array of strings.', 'stop');
    if (list.length > MAX_STOP_STRINGS) fail(`stop takes at most ${MAX_STOP_STRINGS} strings.`, 'stop');
    stop = list.map((v, i) => (typeof v === 'string' && v.length > 0 ? v : fail(`stop[${i}] must be a non-empty string.`, 'stop')));
  }
  const ignoreEos = s.ignoreEos === undefined ? false : typeof s.ignoreEos === 'boolean' ? s.ignoreEos : fail('ignore_eos must be a boolean.', 'ignoreEos');
  const checked = {
    temperature: s.temperature === undefined ? 1 : finite(s.temperature, 'temperature', 0, 100),
    topP: s.topP === undefined ? 1 : finite(s.topP, 'topP', 0, 1, true),
    topK: s.topK === undefined ? 0 : integer(s.topK, 'topK', -1, vocab) === -1 ? 0 : (s.topK as number),
    seed: s.seed === undefined || s.seed === null ? null : integer(s.seed, 'seed', 0, 2 ** 32 - 1),
    stop,
    stopTokenIds: s.stopTokenIds === undefined ? [] : tokenIds(s.stopTokenIds, 'stopTokenIds', vocab),
    ignoreEos,
  };

  const inputIds = 'ids' in input ? input.ids : 'text' in input ? await tokenize.encode(input.text) : await tokenize.applyChatTemplate(input.messages);
  if (inputIds.length === 0) fail('The prompt is empty: it must hold at least one token.', 'prompt');
  const room = context - inputIds.length;
  if (room < 1) {
    fail(`The prompt has ${inputIds.length} tokens, but the model's context length is ${context}; shorten the prompt.`, 'prompt', 'context_length_exceeded');
  }
  const maxTokens = askedMaxTokens ?? Math.min(DEFAULT_MAX_TOKENS, room);
  if (inputIds.length + maxTokens > context) {
    fail(
      `This model's context length is ${context} tokens, but the prompt (${inputIds.length}) plus max_tokens (${maxTokens}) asks for ${inputIds.length + maxTokens}; lower max_tokens or shorten the prompt.`,
      'maxTokens',
      'context_length_exceeded',
    );
  }
  if (inputIds.length + maxTokens > info.limits.maxTotalTokens) {
    fail(
      `The request needs ${inputIds.length + maxTokens} KV cache tokens but the engine's KV budget holds ${info.limits.maxTotalTokens}; raise the KV cache budget or lower max_tokens.`,
      'maxTokens',
    );
  }
  const sampling: SamplingParams = { maxTokens, ...checked };

  const stopTokenIds = ignoreEos ? [...sampling.stopTokenIds] : [...new Set([...sampling.stopTokenIds, ...spec.eosTokenIds])];
  return {
    sampling,
    worker: {
      rid,
      inputIds,
      maxTokens,
      temperature: sampling.temperature,
      topP: sampling.topP,
      topK: sampling.topK,
      seed: sampling.seed ?? randomInt(2 ** 32 - 1),
      stopTokenIds,
      logprobs,
      trace: null,
    },
  };
}
