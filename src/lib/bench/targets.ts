import type { Engine } from '../engine/engine.js';
import { SglError } from '../errors.js';
import type { RequestSpec } from '../workload/request_spec.js';

/** Called for every streamed chunk that carries tokens: the driver's per-response hot path. */
export type OnChunk = (tokens: number) => void;

/** Where bench sends requests: the in-process engine or an OpenAI-compatible server. */
export interface BenchTarget {
  readonly name: string;
  /** Runs one request to its end; resolves to the output token count, throws with the reason on failure. */
  send(spec: RequestSpec, onChunk: OnChunk): Promise<number>;
}

function sampling(spec: RequestSpec): { temperature: number; topP?: number; topK?: number; seed?: number } {
  const s = spec.sampling ?? {};
  return { temperature: s.temperature ?? 0, ...(s.topP === undefined ? {} : { topP: s.topP }), ...(s.topK === undefined ? {} : { topK: s.topK }), ...(s.seed == null ? {} : { seed: s.seed }) };
}

export class EngineTarget implements BenchTarget {
  readonly name: string;
  constructor(private readonly engine: Engine) {
    this.name = `in-process engine (${engine.spec.id})`;
  }

  async send(spec: RequestSpec, onChunk: OnChunk): Promise<number> {
    const input = spec.inputIds ? { inputIds: spec.inputIds } : { prompt: spec.prompt ?? '' };
    let tokens = 0;
    // The spec's id becomes the request id, so a replay's trace lines up with the capture.
    for await (const chunk of await this.engine.generate({ rid: spec.id, ...input, sampling: { ...sampling(spec), maxTokens: spec.outputTokens, ignoreEos: true } })) {
      const n = chunk.tokenIds.length;
      if (n > 0) {
        tokens += n;
        onChunk(n);
      }
      if (chunk.finishReason === 'abort') throw new Error('aborted');
    }
    return tokens;
  }
}

export type Endpoint = 'completions' | 'chat';

/** Streaming completions against any OpenAI-compatible server (sgl serve, SGLang, vLLM). */
export class HttpTarget implements BenchTarget {
  readonly name: string;
  private constructor(
    readonly url: string,
    readonly model: string,
    private readonly endpoint: Endpoint,
    private readonly headers: Record<string, string>,
  ) {
    this.name = `${url} (${model}, ${endpoint})`;
  }

  /** Checks that the server answers like an OpenAI-compatible one and learns its model. */
  static async connect(url: string, endpoint: Endpoint, apiKey?: string): Promise<HttpTarget> {
    const base = url.replace(/\/+$/, '').replace(/\/v1$/, '');
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
    let res: Response;
    try {
      res = await fetch(`${base}/v1/models`, { headers, signal: AbortSignal.timeout(10000) });
    } catch (err) {
      throw new SglError(`Cannot reach ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}. Check --url and that the server is running.`);
    }
    if (res.status === 401) throw new SglError(`${base} refused the request (401): pass its key with --api-key.`);
    let models: { data?: { id?: unknown }[] } | null = null;
    try {
      models = (await res.json()) as { data?: { id?: unknown }[] };
    } catch {
      models = null;
    }
    const id = models?.data?.[0]?.id;
    if (!res.ok || typeof id !== 'string') throw new SglError(`${base} does not look OpenAI-compatible: GET /v1/models answered ${res.status} without a model list.`);
    return new HttpTarget(base, id, endpoint, headers);
  }

  async send(spec: RequestSpec, onChunk: OnChunk): Promise<number> {
    const common = { model: this.model, max_tokens: spec.outputTokens, ignore_eos: true, ...wire(sampling(spec)), stream: true, stream_options: { include_usage: true } };
    const body =
      this.endpoint === 'chat'
        ? { ...common, messages: [{ role: 'user', content: spec.prompt ?? '' }] }
        : { ...common, prompt: spec.inputIds ?? spec.prompt ?? '' };
    const res = await fetch(`${this.url}/v1/${this.endpoint === 'chat' ? 'chat/completions' : 'completions'}`, { method: 'POST', headers: this.headers, body: JSON.stringify(body) });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    let chunks = 0;
    let usage: number | null = null;
    for await (const part of res.body) {
      buf += decoder.decode(part as Uint8Array, { stream: true });
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
        const data = JSON.parse(event.slice(6)) as { choices?: unknown[]; usage?: { completion_tokens?: number }; error?: { message?: string } };
        if (data.error) throw new Error(data.error.message ?? 'error event');
        if (data.choices && data.choices.length > 0) {
          chunks++;
          onChunk(1);
        }
        if (data.usage?.completion_tokens !== undefined) usage = data.usage.completion_tokens;
      }
    }
    return usage ?? chunks;
  }
}

function wire(s: ReturnType<typeof sampling>): Record<string, number> {
  return { temperature: s.temperature, ...(s.topP === undefined ? {} : { top_p: s.topP }), ...(s.topK === undefined ? {} : { top_k: s.topK }), ...(s.seed === undefined ? {} : { seed: s.seed }) };
}
