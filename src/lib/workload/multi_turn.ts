import { Rng } from '../stats/rng.js';
import { drawIds, drawLength } from './random_workload.js';
import type { RandomWorkloadOptions } from './random_workload.js';
import type { Conversation, Workload } from './request_spec.js';

/** As random workloads (count: requests in all, conversations × turns), and the user turns per conversation. */
export interface MultiTurnOptions extends RandomWorkloadOptions {
  turns: number;
}

/**
 * Conversations of random user messages (bench --dataset multi-turn): each
 * turn's request carries every earlier message and answer, so a prefix
 * cache that keeps answers serves all of it but the new message. The
 * workload's `requests` are the first turns (what warm-ups copy).
 */
export function multiTurnWorkload(o: MultiTurnOptions, decode: (ids: readonly number[]) => string): Workload {
  const rng = new Rng(o.seed);
  const exclude = new Set(o.exclude ?? []);
  const length = (len: number): number => drawLength(rng, len, o.rangeRatio);
  const conversations: Conversation[] = [];
  for (let left = o.count, c = 0; left > 0; c++, left -= o.turns) {
    const turns = Array.from({ length: Math.min(o.turns, left) }, () => {
      const inputIds = drawIds(rng, length(o.inputLen), o.vocabSize, exclude);
      return { inputIds, prompt: decode(inputIds), outputTokens: length(o.outputLen) };
    });
    conversations.push({ id: `chat-${c}`, turns });
  }
  const requests = conversations.map((c) => {
    const t = c.turns[0];
    return { id: `${c.id}-t0`, inputIds: t.inputIds, prompt: t.prompt, inputTokens: t.inputIds.length, outputTokens: t.outputTokens };
  });
  const name = `multi-turn (${conversations.length} conversations of up to ${o.turns} turns, input ${o.inputLen}, output ${o.outputLen})`;
  return { name, requests, conversations };
}

/**
 * The prefix-cache hit rate a multi-turn workload allows: a turn's prompt
 * is the conversation so far, of which the cache holds everything but the
 * new message and the last token of the previous answer (its KV was never
 * computed). Assumes each answer has its full length, comes back as the
 * same token ids, and nothing is evicted.
 */
export function multiTurnHitRate(conversations: readonly Conversation[]): number {
  let cached = 0;
  let input = 0;
  for (const c of conversations) {
    let before = 0;
    for (const t of c.turns) {
      if (before > 0) cached += before - 1;
      input += before + t.inputIds.length;
      before += t.inputIds.length + t.outputTokens;
    }
  }
  return input > 0 ? cached / input : 0;
}
