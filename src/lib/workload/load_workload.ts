import { Rng } from '../stats/rng.js';
import { WORKLOAD_FILES, WORKLOAD_FORMATS } from './formats.js';
import { multiTurnWorkload } from './multi_turn.js';
import { drawIds, randomWorkload, sharedPrefixWorkload } from './random_workload.js';
import { blockPrompt } from './hash_blocks.js';

/** SGLang bench_serving's defaults for generated-shared-prefix, scaled to the embedded model's 1,024-token context. */
export const GSP_DEFAULTS = { groups: 8, promptsPerGroup: 16, systemPromptLen: 512, questionLen: 32, outputLen: 32 };
import type { Workload } from './request_spec.js';
import { WorkloadError } from '../errors.js';

/** What `bench --dataset` takes: generated workloads, and every workload file format. */
export const DATASETS = ['random', 'generated-shared-prefix', 'multi-turn', ...WORKLOAD_FORMATS] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface WorkloadOptions {
  dataset: DatasetName;
  path?: string;
  count: number;
  seed: number;
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  /** multi-turn: user turns per conversation (conversations: count ÷ turns). */
  turns?: number;
  /** generated-shared-prefix: SGLang's --gsp-* settings. */
  sharedPrefix?: { groups: number; promptsPerGroup: number; systemPromptLen: number; questionLen: number; outputLen: number };
}

/** The tokenizer a workload is prepared with: the local model's. */
export interface WorkloadTokenizer {
  vocabSize: number;
  specialIds: readonly number[];
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/**
 * Builds the workload the options name, every request with token ids and text.
 */
export function loadWorkload(o: WorkloadOptions, tok: WorkloadTokenizer): Workload {
  if (o.dataset === 'multi-turn') {
    const m = { count: o.count, turns: o.turns ?? 4, inputLen: o.inputLen, outputLen: o.outputLen, rangeRatio: o.rangeRatio, seed: o.seed };
    return multiTurnWorkload({ ...m, vocabSize: tok.vocabSize, exclude: tok.specialIds }, (ids) => tok.decode(ids));
  }
  if (o.dataset !== 'random' && o.dataset !== 'generated-shared-prefix' && !o.path)
    throw new WorkloadError(`--dataset ${o.dataset}`, null, 'needs --dataset-path FILE.');
  const workload =
    o.dataset === 'random'
      ? randomWorkload({
          count: o.count,
          inputLen: o.inputLen,
          outputLen: o.outputLen,
          rangeRatio: o.rangeRatio,
          seed: o.seed,
          vocabSize: tok.vocabSize,
          exclude: tok.specialIds,
        })
      : o.dataset === 'generated-shared-prefix'
        ? sharedPrefixWorkload({ ...(o.sharedPrefix ?? GSP_DEFAULTS), seed: o.seed, vocabSize: tok.vocabSize, exclude: tok.specialIds })
        : WORKLOAD_FILES[o.dataset].read(o.path!, { select: { count: o.count }, encode: () => (t) => tok.encode(t) });
  // Public traces have rows with nothing to send or to generate; a benchmark request needs both.
  workload.requests = workload.requests.filter((r) => r.inputTokens > 0 && r.outputTokens > 0);
  if (workload.requests.length === 0) throw new WorkloadError(o.path ?? o.dataset, null, 'yields no requests.');
  fillInputs(workload, tok, o.seed);
  return workload;
}

/**
 * Gives every request both token ids and text: requests that carry only a
 * length (Mooncake, Azure, BurstGPT, traces captured without content) get
 * seeded random ids of that length.
 */
export function fillInputs(workload: Workload, tok: WorkloadTokenizer, seed: number): void {
  const rng = new Rng(seed ^ 0x5bd1e995);
  const special = new Set(tok.specialIds);
  for (const r of workload.requests) {
    if (!r.inputIds && r.hashIds) r.inputIds = blockPrompt(r, seed, tok.vocabSize, special);
    r.inputIds ??= drawIds(rng, r.inputTokens, tok.vocabSize, special);
    r.prompt ??= tok.decode(r.inputIds);
  }
}
