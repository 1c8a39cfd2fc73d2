import type { Engine } from '../engine/engine.js';
import type { RequestSpec } from '../workload/request_spec.js';
import { sampling } from './targets.js';
import type { BenchTarget, OnChunk, Sent } from './targets.js';

/** The in-process engine as a bench target. */
export class EngineTarget implements BenchTarget {
  readonly name: string;
  constructor(private readonly engine: Engine) {
    this.name = `in-process engine (${engine.spec.id})`;
  }

  async send(spec: RequestSpec, onChunk: OnChunk): Promise<Sent> {
    const input = spec.inputIds ? { inputIds: spec.inputIds } : { prompt: spec.prompt ?? '' };
    let tokens = 0;
    let cachedTokens = 0;
    const ids: number[] | null = spec.keepOutput ? [] : null;
    // The spec's id becomes the request id, so a replay's trace lines up with the capture.
    for await (const chunk of await this.engine.generate({
      rid: spec.id,
      ...input,
      sampling: { ...sampling(spec), maxTokens: spec.outputTokens, ignoreEos: true },
    })) {
      cachedTokens = chunk.usage.cachedTokens;
      const n = chunk.tokenIds.length;
      if (n > 0) {
        tokens += n;
        onChunk(performance.now());
        if (ids) for (const t of chunk.tokenIds) ids.push(t);
      }
      if (chunk.finishReason === 'abort') throw new Error('aborted');
    }
    return { outputTokens: tokens, cachedTokens, ...(ids ? { output: { ids } } : {}) };
  }
}
