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
  /** The target hands back what it generated (ids in-process, text from a server): a conversation's next turn carries it. */
  keepOutput?: boolean;
}

/** One user turn of a conversation: the new message, and how many tokens the answer takes. */
export interface Turn {
  inputIds: number[];
  prompt: string;
  outputTokens: number;
}

/** A multi-turn conversation: each turn is sent once the one before it is answered, carrying everything said so far. */
export interface Conversation {
  id: string;
  turns: Turn[];
}

export interface Workload {
  name: string;
  /** Requests sent on their own (for a multi-turn workload: each conversation's first turn, what warm-ups copy). */
  requests: RequestSpec[];
  /** A multi-turn workload's conversations (bench --dataset multi-turn); its requests are built turn by turn as answers come. */
  conversations?: Conversation[];
}
