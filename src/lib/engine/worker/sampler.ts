import type { Rng } from '../../stats/rng.js';

export interface SamplingConfig {
  temperature: number;
  topP: number;
  topK: number;
}

/**
 * Picks the next token from one row of logits. One instance per worker, with
 * scratch buffers sized to the vocabulary, so sampling allocates nothing per
 * token beyond the candidate list of top-k / top-p.
 */
export class Sampler {
  private readonly probs: Float32Array;
  private readonly order: Int32Array;

  constructor(private readonly vocabSize: number) {
    this.probs = new Float32Array(vocabSize);
    this.order = new Int32Array(vocabSize);
  }

  /** `logits` holds the row at [offset, offset + vocabSize). */
  sample(logits: Float32Array, offset: number, cfg: SamplingConfig, rng: Rng): number {
    const n = this.vocabSize;
    if (cfg.temperature <= 0 || cfg.topK === 1) return argmax(logits, offset, n);

    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[offset + i] > max) max = logits[offset + i];
    const probs = this.probs;
    const invT = 1 / cfg.temperature;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const p = Math.exp((logits[offset + i] - max) * invT);
      probs[i] = p;
      sum += p;
    }
    const topK = cfg.topK > 0 && cfg.topK < n ? cfg.topK : 0;
    if (!topK && cfg.topP >= 1) return this.draw(sum, rng);

    const count = this.candidates(sum, topK, cfg.topP);
    let mass = 0;
    for (let j = 0; j < count; j++) mass += probs[this.order[j]];
    let target = rng.next() * mass;
    for (let j = 0; j < count; j++) {
      target -= probs[this.order[j]];
      if (target < 0) return this.order[j];
    }
    return this.order[count - 1];
  }

  /**
   * The log-probability of `token` and of the `k` most likely tokens, from
   * the raw logits (the model's distribution at temperature 1, before top-k
   * and top-p, as vLLM reports them by default). Written into `out` as
   * [logprob(token), id1, logprob1, id2, logprob2, ...], most likely first.
   */
  logprobs(logits: Float32Array, offset: number, token: number, k: number, out: number[]): void {
    const n = this.vocabSize;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[offset + i] > max) max = logits[offset + i];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(logits[offset + i] - max);
    const lse = max + Math.log(sum);
    out.length = 0;
    out.push(logits[offset + token] - lse);
    // The k best by insertion into a short sorted list (k is at most 20); ties keep the lower id.
    const best = this.order;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = logits[offset + i];
      if (count === k && (k === 0 || v <= logits[offset + best[k - 1]])) continue;
      let j = count < k ? count++ : k - 1;
      while (j > 0 && logits[offset + best[j - 1]] < v) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = i;
    }
    for (let j = 0; j < count; j++) out.push(best[j], logits[offset + best[j]] - lse);
  }

  private draw(sum: number, rng: Rng): number {
    let target = rng.next() * sum;
    const probs = this.probs;
    for (let i = 0; i < this.vocabSize; i++) {
      target -= probs[i];
      if (target < 0) return i;
    }
    return this.vocabSize - 1;
  }

  /**
   * Fills `order` with the kept tokens, most probable first, and returns how
   * many. Instead of sorting the whole vocabulary, it gathers tokens above a
   * halving threshold until they hold enough mass (top-p) or count (top-k);
   * the kept set is always inside that gathered set, so only it is sorted.
   */
  private candidates(sum: number, topK: number, topP: number): number {
    const probs = this.probs;
    const order = this.order;
    const n = this.vocabSize;
    let pMax = 0;
    for (let i = 0; i < n; i++) if (probs[i] > pMax) pMax = probs[i];
    // With top-k the kept set is the k most probable; top-p then applies to
    // their renormalized mass (as vLLM and Hugging Face order them).
    const needMass = topP * sum;
    let threshold = pMax;
    let count = 0;
    for (;;) {
      threshold /= 4;
      count = 0;
      let mass = 0;
      for (let i = 0; i < n; i++) {
        if (probs[i] >= threshold) {
          order[count++] = i;
          mass += probs[i];
        }
      }
      if ((topK ? count >= topK : mass >= needMass) || count === n || threshold === 0) break;
    }
    const sorted = Array.from(order.subarray(0, count)).sort((a, b) => probs[b] - probs[a] || a - b);
    let keep = topK ? Math.min(topK, sorted.length) : sorted.length;
    if (topP < 1) {
      let target = needMass;
      if (topK) {
        target = 0;
        for (let j = 0; j < keep; j++) target += probs[sorted[j]];
        target *= topP;
      }
      let cum = 0;
      for (let j = 0; j < keep; j++) {
        cum += probs[sorted[j]];
        if (cum >= target) {
          keep = j + 1;
          break;
        }
      }
    }
    for (let j = 0; j < keep; j++) order[j] = sorted[j];
    return keep;
  }
}

/** Index of the largest value; the lowest index wins ties. */
export function argmax(values: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestValue = values[offset];
  for (let i = 1; i < n; i++) {
    if (values[offset + i] > bestValue) {
      bestValue = values[offset + i];
      best = i;
    }
  }
  return best;
}
