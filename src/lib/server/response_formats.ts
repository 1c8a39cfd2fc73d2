import type { ChatCompletion, ChatCompletionChunk, ChatCompletionTokenLogprob } from 'openai/resources/chat/completions';
import type { Completion, CompletionChoice, CompletionUsage } from 'openai/resources/completions';
import type { FinishReason, GenerateChunk, RequestTiming, TokenLogprob, Usage } from '../protocol.js';

/** One choice of a response, as it ended. */
export interface Choice {
  text: string;
  tokenIds: number[];
  finish: FinishReason;
  /** One entry per token when the request asked for log-probabilities; null otherwise. */
  logprobs: TokenLogprob[] | null;
  /** The choice's own timing, when the request asked (include_timing). */
  timing?: RequestTiming;
}

/** sgl's extension field on a choice: its timing, when asked for (absent otherwise, so the OpenAI shape is untouched). */
const timingField = (t: RequestTiming | undefined): string => (t ? `,"timing":${JSON.stringify(t)}` : '');
const withTiming = <T extends object>(choice: T, t: RequestTiming | undefined): T => (t ? { ...choice, timing: t } : choice);

/** How tokens are shown in log-probabilities (the engine's tokenizer). */
export interface TokenSpelling {
  tokenText(id: number): string;
  tokenBytes(id: number): Uint8Array;
}

/**
 * How one API shapes a request's output, streamed chunk by chunk or as one
 * body. The OpenAI shapes are checked against the official client's types
 * (`satisfies`), so a build fails when they drift apart.
 */
export interface ResponseFormat {
  /** The first streamed event of a choice, before any token (chat's role delta). */
  start?(index: number): object;
  /** One streamed event as JSON text: the per-token path, built from prepared pieces. */
  chunk(c: GenerateChunk, textSoFar: string, index: number): string;
  /** The last streamed event carrying only usage (OpenAI stream_options.include_usage). */
  usage?(u: Usage): object;
  whole(choices: readonly Choice[], usage: Usage, e2eMs: number): object;
  /** Whether the stream ends with `data: [DONE]`. */
  done: boolean;
  /** Whether an aborted request is an error (OpenAI defines no finish_reason for it) rather than a finish reason (SGLang's /generate). */
  abortIsError: boolean;
}

const usageBody = (u: Usage): CompletionUsage => ({
  prompt_tokens: u.promptTokens,
  completion_tokens: u.completionTokens,
  total_tokens: u.promptTokens + u.completionTokens,
  // As OpenAI, vLLM and SGLang report prompt tokens served from the prefix cache.
  prompt_tokens_details: { cached_tokens: u.cachedTokens },
});

/** The finish reasons OpenAI defines; an aborted request never reaches here as one (abortIsError). */
type OpenAiFinish = 'stop' | 'length';
const openAiFinish = (f: FinishReason): OpenAiFinish => (f === 'abort' ? 'stop' : f);
const finishJson = (f: FinishReason | null): string => (f === null ? 'null' : `"${openAiFinish(f)}"`);

function chatLogprobs(lps: readonly TokenLogprob[], spell: TokenSpelling): ChatCompletion.Choice.Logprobs {
  const entry = (token: number, logprob: number) => ({ token: spell.tokenText(token), logprob, bytes: [...spell.tokenBytes(token)] });
  return {
    content: lps.map((lp): ChatCompletionTokenLogprob => ({ ...entry(lp.token, lp.logprob), top_logprobs: lp.top.map((t) => entry(t.token, t.logprob)) })),
    refusal: null,
  };
}

/** The legacy completions shape; `offset` is where the first token's text starts in the choice's text. */
function completionLogprobs(lps: readonly TokenLogprob[], spell: TokenSpelling, offset: number): CompletionChoice.Logprobs {
  const tokens: string[] = [];
  const textOffset: number[] = [];
  for (const lp of lps) {
    const text = spell.tokenText(lp.token);
    tokens.push(text);
    textOffset.push(offset);
    offset += text.length;
  }
  return {
    tokens,
    token_logprobs: lps.map((lp) => lp.logprob),
    top_logprobs: lps.map((lp) => Object.fromEntries(lp.top.map((t) => [spell.tokenText(t.token), t.logprob]))),
    text_offset: textOffset,
  };
}

export function completionFormat(rid: string, model: string, spell: TokenSpelling): ResponseFormat {
  const id = `cmpl-${rid}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: 'text_completion' as const, created, model };
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[{"index":`;
  const logprobs = (c: GenerateChunk, textSoFar: string): string =>
    c.logprobs ? JSON.stringify(completionLogprobs(c.logprobs, spell, textSoFar.length - c.text.length)) : 'null';
  return {
    chunk: (c, textSoFar, index) =>
      `${prefix}${index},"text":${JSON.stringify(c.text)},"logprobs":${logprobs(c, textSoFar)},"finish_reason":${finishJson(c.finishReason)}${timingField(c.timing)}}]}`,
    usage: (u) => ({ ...head, choices: [], usage: usageBody(u) }) satisfies Completion,
    whole: (choices, u) =>
      ({
        ...head,
        choices: choices.map((c, index) =>
          withTiming(
            { index, text: c.text, logprobs: c.logprobs && completionLogprobs(c.logprobs, spell, 0), finish_reason: openAiFinish(c.finish) },
            c.timing,
          ),
        ),
        usage: usageBody(u),
      }) satisfies Completion,
    done: true,
    abortIsError: true,
  };
}

export function chatFormat(rid: string, model: string, spell: TokenSpelling): ResponseFormat {
  const id = `chatcmpl-${rid}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: 'chat.completion.chunk' as const, created, model };
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[{"index":`;
  const logprobs = (c: GenerateChunk): string => (c.logprobs ? JSON.stringify(chatLogprobs(c.logprobs, spell)) : 'null');
  return {
    start: (index) =>
      ({ ...head, choices: [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }) satisfies ChatCompletionChunk,
    chunk: (c, _textSoFar, index) =>
      `${prefix}${index},"delta":${c.finishReason && !c.text ? '{}' : `{"content":${JSON.stringify(c.text)}}`},"logprobs":${logprobs(c)},"finish_reason":${finishJson(c.finishReason)}${timingField(c.timing)}}]}`,
    usage: (u) => ({ ...head, choices: [], usage: usageBody(u) }) satisfies ChatCompletionChunk,
    whole: (choices, u) =>
      ({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: choices.map((c, index) =>
          withTiming(
            {
              index,
              message: { role: 'assistant' as const, content: c.text, refusal: null },
              logprobs: c.logprobs && chatLogprobs(c.logprobs, spell),
              finish_reason: openAiFinish(c.finish),
            },
            c.timing,
          ),
        ),
        usage: usageBody(u),
      }) satisfies ChatCompletion,
    done: true,
    abortIsError: true,
  };
}

/** SGLang's /generate: cumulative text per streamed event, and meta_info. */
export function nativeFormat(rid: string): ResponseFormat {
  const meta = (u: Usage, finish: FinishReason | null, e2eMs?: number, timing?: RequestTiming): object => ({
    id: rid,
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    cached_tokens: u.cachedTokens,
    finish_reason: finish === null ? null : { type: finish },
    ...(e2eMs === undefined ? {} : { e2e_latency: e2eMs / 1000 }),
    ...(timing ? { timing } : {}),
  });
  return {
    chunk: (c, textSoFar) => JSON.stringify({ text: textSoFar, meta_info: meta(c.usage, c.finishReason, undefined, c.timing) }),
    whole: ([c], u, e2eMs) => ({ text: c.text, output_ids: c.tokenIds, meta_info: meta(u, c.finish, e2eMs, c.timing) }),
    done: true,
    abortIsError: false,
  };
}
