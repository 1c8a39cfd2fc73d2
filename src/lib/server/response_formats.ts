import type { FinishReason, GenerateChunk, Usage } from '../protocol.js';

/** How one API shapes a request's output, streamed chunk by chunk or as one body. */
export interface ResponseFormat {
  /** The first streamed event, before any token (chat's role delta). */
  start?(): object;
  /** One streamed event as JSON text: the per-token path, built from prepared pieces. */
  chunk(c: GenerateChunk, textSoFar: string): string;
  /** The last streamed event carrying only usage (OpenAI stream_options.include_usage). */
  usage?(u: Usage): object;
  whole(text: string, tokenIds: number[], finish: FinishReason, usage: Usage, e2eMs: number): object;
  /** Whether the stream ends with `data: [DONE]`. */
  done: boolean;
}

const usageBody = (u: Usage): object => ({
  prompt_tokens: u.promptTokens,
  completion_tokens: u.completionTokens,
  total_tokens: u.promptTokens + u.completionTokens,
  // As OpenAI, vLLM and SGLang report prompt tokens served from the prefix cache.
  prompt_tokens_details: { cached_tokens: u.cachedTokens },
});
const finishJson = (f: FinishReason | null): string => (f === null ? 'null' : `"${f}"`);

export function completionFormat(rid: string, model: string): ResponseFormat {
  const id = `cmpl-${rid}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: 'text_completion', created, model };
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[{"index":0,"text":`;
  return {
    chunk: (c) => `${prefix}${JSON.stringify(c.text)},"logprobs":null,"finish_reason":${finishJson(c.finishReason)}}]}`,
    usage: (u) => ({ ...head, choices: [], usage: usageBody(u) }),
    whole: (text, _ids, finish, u) => ({ ...head, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }], usage: usageBody(u) }),
    done: true,
  };
}

export function chatFormat(rid: string, model: string): ResponseFormat {
  const id = `chatcmpl-${rid}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: 'chat.completion.chunk', created, model };
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[{"index":0,"delta":`;
  return {
    start: () => ({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }),
    chunk: (c) => `${prefix}${c.finishReason && !c.text ? '{}' : `{"content":${JSON.stringify(c.text)}}`},"logprobs":null,"finish_reason":${finishJson(c.finishReason)}}]}`,
    usage: (u) => ({ ...head, choices: [], usage: usageBody(u) }),
    whole: (text, _ids, finish, u) => ({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }],
      usage: usageBody(u),
    }),
    done: true,
  };
}

/** SGLang's /generate: cumulative text per streamed event, and meta_info. */
export function nativeFormat(rid: string): ResponseFormat {
  const meta = (u: Usage, finish: FinishReason | null, e2eMs?: number): object => ({
    id: rid,
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    cached_tokens: u.cachedTokens,
    finish_reason: finish === null ? null : { type: finish },
    ...(e2eMs === undefined ? {} : { e2e_latency: e2eMs / 1000 }),
  });
  return {
    chunk: (c, textSoFar) => JSON.stringify({ text: textSoFar, meta_info: meta(c.usage, c.finishReason) }),
    whole: (text, ids, finish, u, e2eMs) => ({ text, output_ids: ids, meta_info: meta(u, finish, e2eMs) }),
    done: true,
  };
}
