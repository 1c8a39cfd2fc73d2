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

/** Appends `n` token ids drawn from `rng` to `out`, none of them in `exclude`; returns `out`. */
export function drawIds(rng: Rng, n: number, vocabSize: number, exclude: ReadonlySet<number>, out: number[] = []): number[] {
  const end = out.length + n;
  while (out.length < end) {
    const t = Math.floor(rng.next() * vocabSize);
    if (!exclude.has(t)) out.push(t);
  }
  return out;
}

/** A length uniform in [len × rangeRatio, len], at least 1 (SGLang's --random-range-ratio). */
export function drawLength(rng: Rng, len: number, rangeRatio: number): number {
  return Math.max(1, Math.round(len * rangeRatio + rng.next() * len * (1 - rangeRatio)));
}

/** Requests of random token ids with random lengths; the same seed gives the same requests. */
export function randomWorkload(o: RandomWorkloadOptions): Workload {
  const rng = new Rng(o.seed);
  const exclude = new Set(o.exclude ?? []);
  const length = (len: number): number => drawLength(rng, len, o.rangeRatio);
  const requests: RequestSpec[] = [];
  for (let i = 0; i < o.count; i++) {
    const inputTokens = length(o.inputLen);
    const outputTokens = length(o.outputLen);
    const inputIds = drawIds(rng, inputTokens, o.vocabSize, exclude);
    requests.push({ id: `random-${i}`, inputIds, inputTokens, outputTokens });
  }
  return { name: `random (input ${o.inputLen}, output ${o.outputLen}, range ratio ${o.rangeRatio})`, requests };
}

export interface SharedPrefixOptions {
  groups: number;
  promptsPerGroup: number;
  /** Tokens of each group's shared system prompt. */
  systemPromptLen: number;
  /** Tokens of each prompt's own question after it. */
  questionLen: number;
  outputLen: number;
  seed: number;
  vocabSize: number;
  exclude?: readonly number[];
}

/**
 * SGLang bench_serving's `generated-shared-prefix`: groups of prompts that
 * share a random system prompt, each followed by a random question of its
 * own, in a seeded random order. A prefix cache can serve every prompt's
 * system prompt but the first of its group: `reusableShare` is that share of
 * all prompt tokens.
 */
export function sharedPrefixWorkload(o: SharedPrefixOptions): Workload & { reusableShare: number } {
  const rng = new Rng(o.seed);
  const exclude = new Set(o.exclude ?? []);
  const ids = (n: number): number[] => drawIds(rng, n, o.vocabSize, exclude);
  const requests: RequestSpec[] = [];
  for (let g = 0; g < o.groups; g++) {
    const system = ids(o.systemPromptLen);
    for (let p = 0; p < o.promptsPerGroup; p++) {
      const inputIds = [...system, ...ids(o.questionLen)];
      requests.push({ id: `gsp-${g}-${p}`, inputIds, inputTokens: inputIds.length, outputTokens: o.outputLen });
    }
  }
  for (let i = requests.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [requests[i], requests[j]] = [requests[j], requests[i]];
  }
  const total = o.groups * o.promptsPerGroup * (o.systemPromptLen + o.questionLen);
  const reusableShare = total ? (o.groups * (o.promptsPerGroup - 1) * o.systemPromptLen) / total : 0;
  return {
    name: `generated-shared-prefix (${o.groups} groups × ${o.promptsPerGroup} prompts, system prompt ${o.systemPromptLen}, question ${o.questionLen}, output ${o.outputLen})`,
    requests,
    reusableShare,
  };
}
