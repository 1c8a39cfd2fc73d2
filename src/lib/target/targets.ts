import type { RequestSpec } from '../workload/request_spec.js';
import type { OnContent } from './openai_stream.js';

export type { Endpoint } from './openai_stream.js';

/** Called with the arrival time (performance.now()) of every streamed chunk that carries content: the driver's per-response hot path. */
export type OnChunk = OnContent;

export interface Sent {
  outputTokens: number;
  /** The prompt's tokens as the server counted them (its `usage`), when it said; else the workload's count stands. */
  inputTokens?: number;
  /** Prompt tokens the server's prefix cache supplied (`usage.prompt_tokens_details.cached_tokens`), when it said. */
  cachedTokens?: number;
  /** The server's own TTFT for the request (sgl serve's include_timing), when it said. */
  serverTtftMs?: number;
  /** Which server answered, when the target is a fleet of them. */
  target?: string;
  /** What was generated, when the request asked (keepOutput): its token ids in-process, its text from a server. */
  output?: { ids?: number[]; text?: string };
}

/** Where bench sends requests: the in-process engine or an OpenAI-compatible server. */
export interface BenchTarget {
  readonly name: string;
  /** Runs one request to its end; resolves to its token counts, throws with the reason on failure. */
  send(spec: RequestSpec, onChunk: OnChunk): Promise<Sent>;
}

/** A workload request's sampling parameters as both targets send them: greedy unless the request says otherwise. */
export function sampling(spec: RequestSpec): { temperature: number; topP?: number; topK?: number; seed?: number } {
  const s = spec.sampling ?? {};
  return {
    temperature: s.temperature ?? 0,
    ...(s.topP === undefined ? {} : { topP: s.topP }),
    ...(s.topK === undefined ? {} : { topK: s.topK }),
    ...(s.seed == null ? {} : { seed: s.seed }),
  };
}
