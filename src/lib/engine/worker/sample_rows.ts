import type { FinishReason, TokenOutput } from '../../protocol.js';
import type { RowLogits } from '../onnx/model_runner.js';
import type { LiveRequest } from './live_request.js';
import type { Sampler } from './sampler.js';

/**
 * Samples one token per row into `outputs` and returns the indices of the
 * rows that go on; the rows that end (a stop token, their length, the
 * context) go into `ended`. The step's hot path: nothing is allocated but
 * the outputs themselves.
 */
export function sampleRows(
  sampler: Sampler,
  rows: readonly LiveRequest[],
  logits: RowLogits,
  contextLength: number,
  outputs: TokenOutput[],
  ended: LiveRequest[],
): number[] {
  const keep: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const token = sampler.sample(logits.data, logits.offset(i), r.sampling, r.rng);
    r.lastToken = token;
    r.generated++;
    r.outputIds.push(token);
    let finish: FinishReason | null = null;
    if (r.stopTokens.has(token)) finish = 'stop';
    else if (r.generated >= r.maxTokens || r.promptLength + r.generated >= contextLength) finish = 'length';
    if (finish === null) keep.push(i);
    else ended.push(r);
    const out: TokenOutput = { rid: r.rid, token, finish, cached: r.cachedTokens };
    if (r.logprobs >= 0) sampler.logprobs(logits.data, logits.offset(i), token, r.logprobs, (out.logprobs = []));
    outputs.push(out);
  }
  return keep;
}
