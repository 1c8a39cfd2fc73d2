import { Rng } from '../stats/rng.js';
import type { RequestSpec, Workload } from './request_spec.js';

export interface RandomWorkloadOptions {
  count: number;
  inputLen: number;
  outputLen: number;
  /** Lengths are uniform in [len × rangeRatio, len] (SGLang's --random-range-ratio). */
  rangeRatio: number;
  seed: number;
  vocabSize: number;
  /** Token ids never drawn (special tokens such as end-of-sequence). */
  exclude?: readonly number[];
}

/** Requests of random token ids with random lengths; the same seed gives the same requests. */
export function randomWorkload(o: RandomWorkloadOptions): Workload {
  const rng = new Rng(o.seed);
  const exclude = new Set(o.exclude ?? []);
  const length = (len: number): number => Math.max(1, Math.round(len * o.rangeRatio + rng.next() * len * (1 - o.rangeRatio)));
  const requests: RequestSpec[] = [];
  for (let i = 0; i < o.count; i++) {
    const inputTokens = length(o.inputLen);
    const outputTokens = length(o.outputLen);
    const inputIds: number[] = [];
    while (inputIds.length < inputTokens) {
      const t = Math.floor(rng.next() * o.vocabSize);
      if (!exclude.has(t)) inputIds.push(t);
    }
    requests.push({ id: `random-${i}`, inputIds, inputTokens, outputTokens });
  }
  return { name: `random (input ${o.inputLen}, output ${o.outputLen}, range ratio ${o.rangeRatio})`, requests };
}
