import type { FinishReason, GenerateRequest, Usage } from '../protocol.js';
import type { Engine } from './engine.js';

export interface GenerationTimings {
  /** Request submitted to first token, ms (tokenize, queue, prefill). */
  ttftMs: number;
  /** Request submitted to last token, ms. */
  e2eMs: number;
  /** Tokens after the first, per second of the decode phase. */
  decodeTokensPerSecond: number | null;
}

export interface GenerationResult {
  rid: string;
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  usage: Usage;
  timings: GenerationTimings;
}

/** Runs one request to the end, timing it from the caller's side. */
export async function timedGeneration(engine: Engine, req: GenerateRequest, onText?: (text: string) => void): Promise<GenerationResult> {
  const start = performance.now();
  const stream = await engine.generate(req);
  let firstToken: number | null = null;
  let text = '';
  const tokenIds: number[] = [];
  let finishReason: FinishReason = 'abort';
  let usage: Usage = { promptTokens: stream.promptTokens, completionTokens: 0, cachedTokens: 0 };
  for await (const chunk of stream) {
    if (firstToken === null && chunk.tokenIds.length) firstToken = performance.now();
    tokenIds.push(...chunk.tokenIds);
    text += chunk.text;
    if (chunk.text) onText?.(chunk.text);
    usage = chunk.usage;
    if (chunk.finishReason) finishReason = chunk.finishReason;
  }
  const end = performance.now();
  const ttft = (firstToken ?? end) - start;
  const decodeMs = end - (firstToken ?? end);
  return {
    rid: stream.rid,
    text,
    tokenIds,
    finishReason,
    usage,
    timings: {
      ttftMs: ttft,
      e2eMs: end - start,
      decodeTokensPerSecond: usage.completionTokens > 1 && decodeMs > 0 ? ((usage.completionTokens - 1) * 1000) / decodeMs : null,
    },
  };
}
