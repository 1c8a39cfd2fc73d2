import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/stats/rng.js';
import { Sampler, argmax } from '../../src/lib/engine/worker/sampler.js';

const V = 1000;
function logitsWithPeaks(peaks: Record<number, number>): Float32Array {
  const l = new Float32Array(V).fill(-5);
  for (const [i, v] of Object.entries(peaks)) l[Number(i)] = v;
  return l;
}

function frequencies(sampler: Sampler, logits: Float32Array, cfg: { temperature: number; topP: number; topK: number }, n: number): Map<number, number> {
  const rng = new Rng(42);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t = sampler.sample(logits, 0, cfg, rng);
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return counts;
}

describe('Sampler', () => {
  const sampler = new Sampler(V);

  it('reports log-probabilities of the model distribution, the top ones in order, ties by lower id', () => {
    const logits = logitsWithPeaks({ 7: 3, 400: 4, 12: 3, 999: 2 });
    const out: number[] = [];
    sampler.logprobs(logits, 0, 12, 4, out);
    let z = 0;
    for (const v of logits) z += Math.exp(v);
    expect(out[0]).toBeCloseTo(3 - Math.log(z), 6);
    expect(out.filter((_, i) => i % 2 === 1)).toEqual([400, 7, 12, 999]);
    expect(out[2]).toBeCloseTo(4 - Math.log(z), 6);
    sampler.logprobs(logits, 0, 5, 0, out);
    expect(out).toHaveLength(1);
    expect(out[0]).toBeCloseTo(-5 - Math.log(z), 6);
  });

  it('greedy and top-k 1 take the argmax; ties go to the lowest id', () => {
    const l = logitsWithPeaks({ 7: 3, 500: 3, 20: 2 });
    expect(argmax(l, 0, V)).toBe(7);
    expect(sampler.sample(l, 0, { temperature: 0, topP: 1, topK: 0 }, new Rng(1))).toBe(7);
    expect(sampler.sample(l, 0, { temperature: 1, topP: 1, topK: 1 }, new Rng(1))).toBe(7);
  });

  it('reads the row at the given offset', () => {
    const two = new Float32Array(2 * V).fill(-5);
    two[V + 9] = 4;
    expect(sampler.sample(two, V, { temperature: 0, topP: 1, topK: 0 }, new Rng(1))).toBe(9);
  });

  it('temperature sampling follows the softmax distribution', () => {
    // p(a) : p(b) = e^1 : 1, the rest negligible.
    const counts = frequencies(sampler, logitsWithPeaks({ 1: 20, 2: 19 }), { temperature: 1, topP: 1, topK: 0 }, 20000);
    const ratio = (counts.get(1) ?? 0) / (counts.get(2) ?? 1);
    expect(ratio).toBeGreaterThan(Math.E * 0.9);
    expect(ratio).toBeLessThan(Math.E * 1.1);
  });

  it('top-k keeps only the k most likely tokens', () => {
    const counts = frequencies(sampler, logitsWithPeaks({ 1: 2, 2: 1.9, 3: 1.8, 4: 1.7 }), { temperature: 1, topP: 1, topK: 2 }, 5000);
    expect([...counts.keys()].sort()).toEqual([1, 2]);
  });

  it('top-p keeps the smallest set whose mass reaches p', () => {
    // Probabilities about 0.5, 0.3, 0.2 for tokens 1, 2, 3 (others negligible).
    const l = logitsWithPeaks({ 1: Math.log(0.5) + 20, 2: Math.log(0.3) + 20, 3: Math.log(0.2) + 20 });
    expect([...frequencies(sampler, l, { temperature: 1, topP: 0.75, topK: 0 }, 5000).keys()].sort()).toEqual([1, 2]);
    expect([...frequencies(sampler, l, { temperature: 1, topP: 0.4, topK: 0 }, 2000).keys()]).toEqual([1]);
    expect([...frequencies(sampler, l, { temperature: 1, topP: 0.9, topK: 0 }, 5000).keys()].sort()).toEqual([1, 2, 3]);
  });

  it('top-p applies to the renormalized top-k mass', () => {
    const l = logitsWithPeaks({ 1: Math.log(0.4) + 20, 2: Math.log(0.4) + 20, 3: Math.log(0.2) + 20 });
    // Within the top 2 (0.5 / 0.5 renormalized) p = 0.6 keeps both.
    expect([...frequencies(sampler, l, { temperature: 1, topP: 0.6, topK: 2 }, 4000).keys()].sort()).toEqual([1, 2]);
  });

  it('the same seed gives the same draws', () => {
    const l = new Float32Array(V).map((_, i) => Math.sin(i));
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 50 }, () => sampler.sample(l, 0, { temperature: 0.8, topP: 0.9, topK: 50 }, rng));
    };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
  });
});
