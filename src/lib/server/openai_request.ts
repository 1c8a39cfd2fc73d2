import { MAX_TOP_LOGPROBS, SAMPLING_FIELDS } from '../protocol.js';
import type { ChatMessage, GenerateRequest, SamplingParams } from '../protocol.js';
import { HttpError, badRequest } from './http_error.js';

export interface ParsedRequest {
  req: GenerateRequest;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`: a last chunk with the usage. */
  includeUsage: boolean;
  /** Choices to generate for the prompt (OpenAI's `n`). */
  n: number;
  /** sgl's extension: each choice carries its own stage timing (`include_timing: true`). */
  includeTiming: boolean;
  /** vLLM's per-request metrics (`include_metrics: true`; served when the server allows them). */
  includeMetrics: boolean;
}

/** The most choices one request may ask for. */
export const MAX_CHOICES = 16;

type Body = Record<string, unknown>;

const optional = (v: unknown): boolean => v === undefined || v === null;

/** The served model answers to its name and to "default" (as SGLang's does: many of its examples send that). */
function checkModel(body: Body, served: string): void {
  const model = body.model;
  if (optional(model)) return;
  if (typeof model !== 'string') throw badRequest('model must be a string.', 'model');
  if (model !== served && model !== 'default')
    throw new HttpError(
      404,
      `The model ${model} does not exist; this server serves ${served} (or send "default").`,
      'invalid_request_error',
      'model',
      'model_not_found',
    );
}

function wholeNumber(body: Body, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (optional(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw badRequest(`${key} must be an integer from ${min} to ${max}, got ${kindOf(v) === 'a number' ? v : kindOf(v)}.`, key);
  return v;
}

/** `n`, and `best_of` only where it asks for nothing more than n. */
function choiceCount(body: Body): number {
  const n = wholeNumber(body, 'n', 1, MAX_CHOICES) ?? 1;
  if (!optional(body.best_of) && body.best_of !== n) throw badRequest('best_of is not supported (beyond best_of = n).', 'best_of');
  return n;
}

function checkStreamFlags(body: Body): { stream: boolean; includeUsage: boolean; includeTiming: boolean; includeMetrics: boolean } {
  if (!optional(body.stream) && typeof body.stream !== 'boolean') throw badRequest('stream must be a boolean.', 'stream');
  const options = body.stream_options;
  if (!optional(options) && (typeof options !== 'object' || Array.isArray(options))) throw badRequest('stream_options must be an object.', 'stream_options');
  const includeUsage = (options as { include_usage?: unknown } | null | undefined)?.include_usage;
  if (!optional(includeUsage) && typeof includeUsage !== 'boolean') throw badRequest('stream_options.include_usage must be a boolean.', 'stream_options');
  return {
    stream: body.stream === true,
    includeUsage: includeUsage === true,
    includeTiming: booleanFlag(body, 'include_timing'),
    includeMetrics: booleanFlag(body, 'include_metrics'),
  };
}

/** An optional boolean field (include_timing, include_metrics): absent or null is false. */
function booleanFlag(body: Body, key: string): boolean {
  if (!optional(body[key]) && typeof body[key] !== 'boolean') throw badRequest(`${key} must be a boolean, got ${kindOf(body[key])}.`, key);
  return body[key] === true;
}

/** Fields sgl does not implement: refused when set to anything but their neutral value. */
function refuseUnsupported(body: Body): void {
  if (body.echo === true) throw badRequest('echo is not supported.', 'echo');
  for (const k of ['presence_penalty', 'frequency_penalty']) {
    if (!optional(body[k]) && body[k] !== 0) throw badRequest(`${k} is not supported; leave it at 0.`, k);
  }
}

/** The sampling fields a body sets, under the engine's names (SAMPLING_FIELDS is the one list). */
function sampling(body: Body, maxTokensKey: 'max_tokens' | 'max_completion_tokens'): Partial<SamplingParams> {
  const out: Record<string, unknown> = {};
  for (const [field, wire] of Object.entries(SAMPLING_FIELDS)) {
    const value = field === 'maxTokens' ? (body[maxTokensKey] ?? body.max_tokens) : body[wire];
    if (!optional(value)) out[field] = value;
  }
  return out as Partial<SamplingParams>;
}

/** What a JSON value is, for messages that say what was sent instead: "a number", "an empty array", "an array of mixed values". */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    if (v.length === 0) return 'an empty array';
    const kinds = new Set(v.map((x) => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x)));
    return kinds.size === 1 ? `an array of ${[...kinds][0]}s` : 'an array of mixed values';
  }
  const t = typeof v;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/** POST /v1/completions */
export function completionRequest(body: Body, served: string): ParsedRequest {
  checkModel(body, served);
  refuseUnsupported(body);
  const n = choiceCount(body);
  // The legacy API's logprobs is the number of alternatives per token.
  const logprobs = wholeNumber(body, 'logprobs', 0, MAX_TOP_LOGPROBS);
  const flags = checkStreamFlags(body);
  const prompt = body.prompt;
  let input: Pick<GenerateRequest, 'prompt' | 'inputIds'>;
  if (typeof prompt === 'string') input = { prompt };
  else if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') input = { prompt: prompt[0] };
  else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((t) => typeof t === 'number')) input = { inputIds: prompt as number[] };
  else if (Array.isArray(prompt) && prompt.length > 1 && (prompt.every((p) => typeof p === 'string') || prompt.every(Array.isArray)))
    throw badRequest('Batched prompts are not supported; send one prompt per request.', 'prompt');
  else if (optional(prompt)) throw badRequest('prompt is required: a string or an array of token ids.', 'prompt');
  else throw badRequest(`prompt must be a string or an array of token ids, got ${kindOf(prompt)}.`, 'prompt');
  return { req: { ...input, sampling: sampling(body, 'max_tokens'), ...(logprobs === undefined ? {} : { logprobs }) }, ...flags, n };
}

/** POST /v1/chat/completions */
export function chatRequest(body: Body, served: string): ParsedRequest {
  checkModel(body, served);
  refuseUnsupported(body);
  const n = choiceCount(body);
  if (!optional(body.logprobs) && typeof body.logprobs !== 'boolean') throw badRequest(`logprobs must be a boolean, got ${kindOf(body.logprobs)}.`, 'logprobs');
  const top = wholeNumber(body, 'top_logprobs', 0, MAX_TOP_LOGPROBS);
  if (top !== undefined && body.logprobs !== true) throw badRequest('top_logprobs needs logprobs: true.', 'top_logprobs');
  const logprobs = body.logprobs === true ? (top ?? 0) : undefined;
  const flags = checkStreamFlags(body);
  const messages = body.messages;
  if (optional(messages)) throw badRequest('messages is required: a non-empty array of {role, content}.', 'messages');
  if (!Array.isArray(messages) || messages.length === 0)
    throw badRequest(`messages must be a non-empty array of {role, content}, got ${kindOf(messages)}.`, 'messages');
  const parsed: ChatMessage[] = messages.map((m, i) => {
    if (typeof m !== 'object' || m === null) throw badRequest(`messages[${i}] must be an object.`, `messages[${i}]`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !['system', 'user', 'assistant', 'developer', 'tool'].includes(role))
      throw badRequest(`messages[${i}].role must be one of system, user, assistant, developer, tool.`, `messages[${i}].role`);
    return { role, content: contentText(content, i) };
  });
  return { req: { messages: parsed, sampling: sampling(body, 'max_completion_tokens'), ...(logprobs === undefined ? {} : { logprobs }) }, ...flags, n };
}

function contentText(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (
    Array.isArray(content) &&
    content.every((p) => typeof p === 'object' && p !== null && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string')
  ) {
    return content.map((p) => (p as { text: string }).text).join('');
  }
  throw badRequest(`messages[${i}].content must be a string or an array of text parts.`, `messages[${i}].content`);
}

// SGLang calls max_tokens max_new_tokens.
const NATIVE_SAMPLING = new Set<string>(Object.values(SAMPLING_FIELDS).map((wire) => (wire === 'max_tokens' ? 'max_new_tokens' : wire)));
/** SGLang sampling parameters sgl does not implement, and the value at which they do nothing. */
const NATIVE_NEUTRAL: Record<string, unknown> = { frequency_penalty: 0, presence_penalty: 0, repetition_penalty: 1, min_new_tokens: 0, n: 1 };

/** Like the OpenAI routes: a parameter sgl would silently ignore is refused instead. */
function refuseUnsupportedNative(p: Body): void {
  for (const [key, value] of Object.entries(p)) {
    if (NATIVE_SAMPLING.has(key) || optional(value)) continue;
    if (Object.hasOwn(NATIVE_NEUTRAL, key)) {
      if (value !== NATIVE_NEUTRAL[key])
        throw badRequest(`sampling_params.${key} is not supported; leave it at ${String(NATIVE_NEUTRAL[key])}.`, `sampling_params.${key}`);
      continue;
    }
    throw badRequest(`sampling_params.${key} is not supported; sgl takes ${[...NATIVE_SAMPLING].join(', ')}.`, `sampling_params.${key}`);
  }
}

/** POST /generate (SGLang's native shape). */
export function nativeRequest(body: Body): ParsedRequest & { rid?: string } {
  const flags = checkStreamFlags(body);
  const sp = body.sampling_params ?? {};
  if (typeof sp !== 'object' || sp === null || Array.isArray(sp)) throw badRequest('sampling_params must be an object.', 'sampling_params');
  const p = sp as Body;
  refuseUnsupportedNative(p);
  const input: Pick<GenerateRequest, 'prompt' | 'inputIds'> =
    typeof body.text === 'string'
      ? { prompt: body.text }
      : Array.isArray(body.input_ids)
        ? { inputIds: body.input_ids as number[] }
        : (() => {
            throw badRequest('Give text (a string) or input_ids (an array of token ids).', 'text');
          })();
  if (!optional(body.rid) && typeof body.rid !== 'string') throw badRequest('rid must be a string.', 'rid');
  const s = sampling({ ...p, max_tokens: p.max_new_tokens }, 'max_tokens');
  return { req: { ...input, sampling: s, ...(typeof body.rid === 'string' ? { rid: body.rid } : {}) }, ...flags, n: 1 };
}
