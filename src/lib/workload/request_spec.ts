import type { SamplingParams } from '../protocol.js';

/** One request of a workload, whatever file or generator it came from. */
export interface RequestSpec {
  /** Stable within a workload: replay and comparisons match requests by it. */
  id: string;
  /** Token ids to send, when known; otherwise `prompt`. */
  inputIds?: number[];
  prompt?: string;
  inputTokens: number;
  /** Output tokens to generate (sent as max_tokens with ignore_eos). */
  outputTokens: number;
  /** Arrival in ms from the start, when the workload fixes it (traces, Mooncake). */
  arrivalMs?: number;
  sampling?: Partial<SamplingParams>;
  /** Mooncake: the prompt as block ids (equal ids, equal blocks), `blockTokens` tokens each (hash_blocks.ts). */
  hashIds?: number[];
  blockTokens?: number;
  /** A warm-up copy, sent before the run and not measured; its id starts with `warmup-`. */
  warmup?: boolean;
}

export interface Workload {
  name: string;
  requests: RequestSpec[];
}
