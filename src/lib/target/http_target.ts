import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SglError } from '../errors.js';
import type { RequestSpec } from '../workload/request_spec.js';
import { now } from '../tracing/clock.js';
import { E, S } from '../tracing/stages.js';
import { NULL_CLIENT_TRACE } from '../tracing/client_trace.js';
import { Tracing } from '../tracing/tracing.js';
import type { TraceContext } from '../tracing/trace_context.js';
import { errorMessage, readCompletionStream } from './openai_stream.js';
import type { Endpoint } from './openai_stream.js';
import { sampling } from './targets.js';
import type { BenchTarget, OnChunk, Sent } from './targets.js';

export interface ConnectOptions {
  apiKey?: string;
  /** Counts the output of a server that sends no `usage` (without it, each chunk with content counts as one token). */
  countTokens?: (text: string) => number;
  /**
   * Completions: send the workload's token ids instead of its text. Off by
   * default, as in bench_serving, so TTFT includes the server's own
   * tokenization; replay sends ids to reproduce a capture token for token.
   */
  sendIds?: boolean;
  /** Ask the server for each request's own timing (sgl's `include_timing`, vLLM's `include_metrics`), to tell transport from server time. */
  serverTiming?: boolean;
  /** Traces the client's side of each request (module `client`) and sends its `traceparent`; off when absent. The caller attaches it (connectTargets). */
  tracing?: Tracing;
}

const NO_TRACING = new Tracing();

/** Streaming completions against any OpenAI-compatible server (sgl serve, SGLang, vLLM). */
export class HttpTarget implements BenchTarget {
  readonly name: string;
  /** Tokens a request may hold, when the server says so (`max_model_len` in /v1/models). */
  contextLength: number | null = null;
  /**
   * Node's own HTTP client on a keep-alive agent: fetch spends milliseconds
   * of its own before the request leaves, and every one of them would count
   * as the server's TTFT.
   */
  private readonly agent: HttpAgent;
  private readonly post: typeof httpRequest;

  private constructor(
    readonly url: string,
    readonly model: string,
    readonly endpoint: Endpoint,
    private readonly headers: Record<string, string>,
    private readonly countTokens: ((text: string) => number) | null,
    private readonly sendIds: boolean,
    private readonly serverTiming: boolean,
    private readonly tracing: Tracing,
  ) {
    this.name = `${url} (${model}, ${endpoint})`;
    const https = url.startsWith('https:');
    this.agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.post = https ? httpsRequest : httpRequest;
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** Checks that the server answers like an OpenAI-compatible one and learns its model. */
  static async connect(url: string, endpoint: Endpoint, o: ConnectOptions = {}): Promise<HttpTarget> {
    const { apiKey, countTokens } = o;
    const base = url.replace(/\/+$/, '').replace(/\/v1$/, '');
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
    let res: Response;
    try {
      res = await fetch(`${base}/v1/models`, { headers, signal: AbortSignal.timeout(10000) });
    } catch (err) {
      throw new SglError(
        `Cannot reach ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}. Check --url and that the server is running.`,
      );
    }
    if (res.status === 401) throw new SglError(`${base} refused the request (401): pass its key with --api-key.`);
    let models: { data?: { id?: unknown; max_model_len?: unknown }[] } | null = null;
    const text = await res.text().catch(() => '');
    try {
      models = JSON.parse(text) as { data?: { id?: unknown; max_model_len?: unknown }[] };
    } catch {
      models = null;
    }
    const id = models?.data?.[0]?.id;
    // A 404 is a server without the route (not OpenAI-compatible); other refusals say why (a proxy's Host, a key).
    if (!res.ok && res.status !== 404) throw new SglError(`${base} refused GET /v1/models (${res.status})${text ? `: ${errorMessage(text)}` : ''}`);
    if (typeof id !== 'string') throw new SglError(`${base} does not look OpenAI-compatible: GET /v1/models answered ${res.status} without a model list.`);
    const target = new HttpTarget(base, id, endpoint, headers, countTokens ?? null, o.sendIds ?? false, o.serverTiming ?? false, o.tracing ?? NO_TRACING);
    // vLLM, SGLang and sgl serve say how many tokens a request may hold.
    const context = models?.data?.[0]?.max_model_len;
    if (typeof context === 'number' && Number.isInteger(context) && context > 1) target.contextLength = context;
    return target;
  }

  /**
   * One request, its client side traced: `send` (connecting, when a new
   * socket is opened, nested in it) until the request is written,
   * `wait_response` until the response headers, `wait_first_token` until the
   * first chunk with content, `stream` to the end; a `content` event per
   * later chunk at level 3.
   */
  async send(spec: RequestSpec, onChunk: OnChunk): Promise<Sent> {
    // Warm-ups are not part of the workload: untraced, as in-process.
    const trace = spec.warmup ? NULL_CLIENT_TRACE : this.tracing.startClientRequest();
    const ctx = trace.main;
    ctx.begin(S.send, trace.start);
    let firstContent: number | null = null;
    const chunk = (t: number): void => {
      if (firstContent === null) {
        firstContent = t;
        ctx.next(S.wait_first_token, S.stream, t);
      } else ctx.event(E.content, t);
      onChunk(t);
    };
    let sent: Sent | null = null;
    let error: string | null = null;
    try {
      sent = await this.exchange(spec, chunk, trace.traceparent, ctx);
      return sent;
    } catch (err) {
      error = (err as Error).message;
      throw err;
    } finally {
      const end = now();
      ctx.end(S.stream, end);
      const sampling = spec.sampling ?? {};
      trace.finish(
        {
          rid: spec.id,
          inputTokens: sent?.inputTokens ?? spec.inputTokens,
          ...(spec.inputIds ? { inputIds: spec.inputIds } : {}),
          ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}),
          chat: this.endpoint === 'chat',
          sampling: {
            maxTokens: spec.outputTokens,
            temperature: sampling.temperature ?? 0,
            topP: sampling.topP ?? 1,
            topK: sampling.topK ?? 0,
            seed: sampling.seed ?? 0,
            ignoreEos: true,
          },
        },
        { outputTokens: sent?.outputTokens ?? 0, cachedTokens: sent?.cachedTokens ?? null, error, firstContent },
        end,
      );
    }
  }

  private async exchange(spec: RequestSpec, onChunk: OnChunk, traceparent: string | null, ctx: TraceContext): Promise<Sent> {
    const common = {
      model: this.model,
      max_tokens: spec.outputTokens,
      ignore_eos: true,
      ...wire(sampling(spec)),
      stream: true,
      stream_options: { include_usage: true },
      // Either server's own timing: sgl's include_timing, vLLM's include_metrics (each ignores the other's field).
      ...(this.serverTiming ? { include_timing: true, include_metrics: true } : {}),
    };
    const body =
      this.endpoint === 'chat'
        ? { ...common, messages: [{ role: 'user', content: spec.prompt ?? '' }] }
        : { ...common, prompt: this.sendIds && spec.inputIds ? spec.inputIds : (spec.prompt ?? spec.inputIds ?? '') };
    const payload = JSON.stringify(body);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      // The request's id, and whether it is a warm-up, where a server's logs can show them.
      const headers = {
        ...this.headers,
        'content-length': Buffer.byteLength(payload),
        'x-request-id': spec.id,
        ...(spec.warmup ? { 'x-sgl-warmup': '1' } : {}),
        ...(traceparent ? { traceparent } : {}),
      };
      const req = this.post(
        `${this.url}/v1/${this.endpoint === 'chat' ? 'chat/completions' : 'completions'}`,
        { method: 'POST', agent: this.agent, headers },
        (res) => {
          ctx.next(S.wait_response, S.wait_first_token);
          resolve(res);
        },
      );
      req.on('socket', (socket) => {
        // A new connection (not one the keep-alive agent reuses) is connected inside `send`.
        if (!socket.connecting) return;
        ctx.begin(S.connect);
        socket.once('connect', () => ctx.end(S.connect));
      });
      req.on('error', reject);
      // Called once the request has been handed to the socket.
      req.end(payload, () => ctx.next(S.send, S.wait_response));
    });
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${errorMessage(await textOf(res)) || '(no body)'}`);
    if ((res.headers['content-type'] ?? '').includes('application/json'))
      throw new Error(`the server answered with JSON, not a stream: ${(await textOf(res)).slice(0, 200)}`);
    const end = await readCompletionStream(res, this.endpoint, onChunk);
    const outputTokens = end.completionTokens ?? (this.countTokens ? this.countTokens(end.text) : end.contentChunks);
    return {
      outputTokens,
      ...(end.promptTokens === null ? {} : { inputTokens: end.promptTokens }),
      ...(end.cachedTokens === null ? {} : { cachedTokens: end.cachedTokens }),
      ...(end.serverTtftMs === null ? {} : { serverTtftMs: end.serverTtftMs }),
      ...(spec.keepOutput ? { output: { text: end.text } } : {}),
    };
  }
}

async function textOf(res: IncomingMessage): Promise<string> {
  let text = '';
  try {
    for await (const part of res) if (text.length < 4096) text += String(part);
  } catch {
    // what arrived is the reason
  }
  return text;
}

function wire(s: ReturnType<typeof sampling>): Record<string, number> {
  return {
    temperature: s.temperature,
    ...(s.topP === undefined ? {} : { top_p: s.topP }),
    ...(s.topK === undefined ? {} : { top_k: s.topK }),
    ...(s.seed === undefined ? {} : { seed: s.seed }),
  };
}
