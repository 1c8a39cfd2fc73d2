import { createParser } from 'eventsource-parser';
import type { ParseError } from 'eventsource-parser';
import type { Readable } from 'node:stream';

/** Called with the time (performance.now()) the bytes of a chunk with content arrived: the per-response hot path. */
export type OnContent = (atMs: number) => void;

export type Endpoint = 'completions' | 'chat';

export interface StreamEnd {
  /** `usage.completion_tokens` when the server sent it. */
  completionTokens: number | null;
  /** `usage.prompt_tokens` when the server sent it. */
  promptTokens: number | null;
  /** `usage.prompt_tokens_details.cached_tokens` when the server sent it. */
  cachedTokens: number | null;
  /** The generated text, joined. */
  text: string;
  /** Events that carried content. */
  contentChunks: number;
  /** The server's own TTFT, when it said: sgl's include_timing (`choices[0].timing.ttft_ms`) or vLLM's include_metrics (`metrics.time_to_first_token_ms`). */
  serverTtftMs: number | null;
}

/** One event's JSON, as OpenAI-compatible servers stream it; every field optional. */
interface StreamEvent {
  choices?: { text?: unknown; delta?: { content?: unknown; reasoning_content?: unknown; reasoning?: unknown }; timing?: { ttft_ms?: unknown } }[];
  /** vLLM's per-request metrics (include_metrics), in the last chunk. */
  metrics?: { time_to_first_token_ms?: unknown };
  usage?: { completion_tokens?: unknown; prompt_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null } | null;
  error?: unknown;
  object?: unknown;
  message?: unknown;
}

/** A stream can carry a long event, not an unbounded one. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024;

const nonEmpty = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The text an event adds: `text` for completions; `delta.content`, else the reasoning, for chat. A role-only delta adds none. */
function contentOf(e: StreamEvent, endpoint: Endpoint): string {
  const c = e.choices?.[0];
  if (!c) return '';
  if (endpoint === 'completions') return nonEmpty(c.text);
  const d = c.delta;
  return d ? nonEmpty(d.content) || nonEmpty(d.reasoning_content) || nonEmpty(d.reasoning) : '';
}

/** The reason in an error event: OpenAI's `{error: {message}}`, a bare `{error: "..."}`, or vLLM's `{object: "error", message}`. */
function errorOf(e: StreamEvent): string | null {
  if (e.error !== undefined && e.error !== null) {
    const inner = e.error as { message?: unknown };
    return typeof e.error === 'string' ? e.error : typeof inner.message === 'string' ? inner.message : JSON.stringify(e.error).slice(0, 200);
  }
  if (e.object === 'error') return typeof e.message === 'string' ? e.message : 'error event';
  return null;
}

/**
 * Reads an OpenAI-compatible completion stream as the SSE spec defines it
 * (CR, LF or CRLF line ends, comments, multi-line data, `[DONE]`) and calls
 * `onContent` once per event that carries text, with the time its bytes
 * arrived; TTFT, ITL and E2E are taken from those times, as SGLang's
 * bench_serving and vLLM's `bench serve` take them. Resolves at `[DONE]` or
 * at the end of the stream; rejects with the server's reason when an error
 * event arrives mid-stream.
 */
export function readCompletionStream(body: Readable, endpoint: Endpoint, onContent: OnContent): Promise<StreamEnd> {
  let arrivedAt = 0;
  let failure: string | null = null;
  let done = false;
  let text = '';
  let contentChunks = 0;
  let completionTokens: number | null = null;
  let promptTokens: number | null = null;
  let cachedTokens: number | null = null;
  let serverTtftMs: number | null = null;
  const parser = createParser({
    maxBufferSize: MAX_EVENT_CHARS,
    onEvent(ev) {
      if (done || failure !== null) return;
      if (ev.data === '[DONE]') {
        done = true;
        return;
      }
      if (ev.event === 'error') {
        failure = ev.data.trim() ? errorMessage(ev.data) : 'error event';
        return;
      }
      let e: StreamEvent;
      try {
        e = JSON.parse(ev.data) as StreamEvent;
      } catch {
        failure = `unparseable stream event: ${JSON.stringify(ev.data.slice(0, 80))}`;
        return;
      }
      if (e === null || typeof e !== 'object') return;
      const error = errorOf(e);
      if (error !== null) {
        failure = error;
        return;
      }
      const piece = contentOf(e, endpoint);
      if (piece) {
        text += piece;
        contentChunks++;
        onContent(arrivedAt);
      }
      const n = e.usage?.completion_tokens;
      if (typeof n === 'number' && Number.isFinite(n)) completionTokens = n;
      const p = e.usage?.prompt_tokens;
      if (typeof p === 'number' && Number.isFinite(p)) promptTokens = p;
      const c = e.usage?.prompt_tokens_details?.cached_tokens;
      if (typeof c === 'number' && Number.isFinite(c)) cachedTokens = c;
      const st = e.choices?.[0]?.timing?.ttft_ms ?? e.metrics?.time_to_first_token_ms;
      if (typeof st === 'number' && Number.isFinite(st)) serverTtftMs = st;
    },
    onError(err: ParseError) {
      // Unknown fields and bad retry values are ignored, as the spec says; only a runaway event ends the stream.
      if (err.type === 'max-buffer-size-exceeded') failure = `a stream event longer than ${MAX_EVENT_CHARS} characters`;
    },
  });
  const decoder = new TextDecoder();
  // A CR may be a whole line end or the first half of CRLF; the parser waits for the next byte to tell,
  // which would hold back an event ending in CR until the next one. The LF is supplied at once, and the
  // next part's own LF, if it begins with one, is dropped.
  let pendingLf = false;
  return new Promise<StreamEnd>((resolve, reject) => {
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (failure !== null) {
        body.destroy();
        reject(new Error(failure));
      } else {
        // At [DONE] the rest of the body (the end of the chunked encoding) drains on its own, keeping the connection.
        resolve({ completionTokens, promptTokens, cachedTokens, text, contentChunks, serverTtftMs });
      }
    };
    body.on('data', (part: Buffer) => {
      if (settled) return;
      arrivedAt = performance.now();
      let chunk = decoder.decode(part, { stream: true });
      if (pendingLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
      pendingLf = chunk.endsWith('\r');
      parser.feed(pendingLf ? chunk + '\n' : chunk);
      if (failure !== null || done) settle();
    });
    body.on('end', settle);
    body.on('error', (err) => {
      if (settled) return;
      failure ??= `the stream broke off: ${err.message}`;
      settle();
    });
    body.on('close', () => {
      if (settled) return;
      failure ??= 'the connection closed mid-stream';
      settle();
    });
  });
}

/** The reason in an OpenAI-style error body or event data (see errorOf); the text itself when it is not JSON. */
export function errorMessage(data: string): string {
  try {
    const e = JSON.parse(data) as StreamEvent;
    if (e && typeof e === 'object') return errorOf(e) ?? data.slice(0, 200);
  } catch {
    // not JSON: the data is the reason
  }
  return data.slice(0, 200);
}
