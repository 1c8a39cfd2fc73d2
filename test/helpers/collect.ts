import type { Engine } from '../../src/lib/engine/engine.js';
import type { FinishReason, GenerateChunk, GenerateRequest } from '../../src/lib/protocol.js';

export interface Collected {
  tokens: number[];
  text: string;
  finishReason: FinishReason | null;
  chunks: GenerateChunk[];
}

/** Runs a request to the end; `onChunk` may act mid-stream (abort, start another request). */
export async function collect(engine: Engine, req: GenerateRequest, onChunk?: (c: GenerateChunk, index: number) => void): Promise<Collected> {
  const out: Collected = { tokens: [], text: '', finishReason: null, chunks: [] };
  for await (const chunk of await engine.generate(req)) {
    out.tokens.push(...chunk.tokenIds);
    out.text += chunk.text;
    out.chunks.push(chunk);
    if (chunk.finishReason) out.finishReason = chunk.finishReason;
    onChunk?.(chunk, out.chunks.length - 1);
  }
  return out;
}
