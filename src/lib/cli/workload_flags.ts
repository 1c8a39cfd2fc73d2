import { Flags } from '@oclif/core';
import type { Interfaces } from '@oclif/core';
import { DATASETS, GSP_DEFAULTS } from '../workload/load_workload.js';
import { WORKLOAD_FILES, WORKLOAD_FORMATS } from '../workload/formats.js';
import type { WorkloadOptions } from '../workload/load_workload.js';
import { COMPARE_DEFAULTS } from './bench_flags.js';
import { numberFlag } from './number_flag.js';

const helpGroup = 'WORKLOAD';

/** The flags that choose and shape bench's workload, named as SGLang's bench_serving names them. */
export const workloadFlags = {
  dataset: Flags.option({
    options: DATASETS,
    default: 'random' as const,
    description: `Workload: random lengths, groups of prompts sharing a system prompt (generated-shared-prefix, as SGLang's bench_serving), conversations whose every turn carries the ones before it, answers included (multi-turn: --turns, --sessions, --think-time), or a file: ${WORKLOAD_FORMATS.map((f) => `${f} (${WORKLOAD_FILES[f].title})`).join(', ')}. A file's lengths are used; its arrival times are not (--request-rate sets them; sgl replay keeps them).`,
    helpGroup,
  })(),
  'dataset-path': Flags.string({ description: 'The dataset file (every --dataset but random and generated-shared-prefix).', helpGroup }),
  'num-prompts': Flags.integer({
    min: 1,
    description: `Requests to send (default: 50; ${COMPARE_DEFAULTS.numPrompts} per run with --compare-trace-levels; generated-shared-prefix sends groups × prompts per group).`,
    helpGroup,
  }),
  'random-input-len': Flags.integer({ min: 1, default: 64, helpGroup, description: 'Input tokens (random dataset).' }),
  'random-output-len': Flags.integer({ min: 1, default: 32, helpGroup, description: 'Output tokens (random dataset).' }),
  'random-range-ratio': numberFlag({ min: 0, max: 1, default: 0.5, helpGroup, description: 'Lengths are uniform in [len × ratio, len].' }),
  'gsp-num-groups': Flags.integer({
    min: 1,
    default: GSP_DEFAULTS.groups,
    helpGroup,
    description: 'generated-shared-prefix: groups, each with its own system prompt.',
  }),
  'gsp-prompts-per-group': Flags.integer({
    min: 1,
    default: GSP_DEFAULTS.promptsPerGroup,
    helpGroup,
    description: 'generated-shared-prefix: prompts per group (the requests sent: groups × this).',
  }),
  'gsp-system-prompt-len': Flags.integer({
    min: 0,
    default: GSP_DEFAULTS.systemPromptLen,
    helpGroup,
    description: "generated-shared-prefix: tokens of each group's system prompt.",
  }),
  'gsp-question-len': Flags.integer({
    min: 1,
    default: GSP_DEFAULTS.questionLen,
    helpGroup,
    description: "generated-shared-prefix: tokens of each prompt's question.",
  }),
  'gsp-output-len': Flags.integer({ min: 1, default: GSP_DEFAULTS.outputLen, helpGroup, description: 'generated-shared-prefix: output tokens.' }),
  turns: Flags.integer({ min: 1, default: 4, helpGroup, description: 'multi-turn: user turns per conversation (--num-prompts counts every turn).' }),
  sessions: Flags.integer({ min: 1, default: 4, helpGroup, description: 'multi-turn: conversations in progress at once, each with one request in flight.' }),
  'think-time': numberFlag({ min: 0, default: 0, helpGroup, description: "multi-turn: seconds between an answer and the conversation's next turn." }),
  seed: Flags.integer({ min: 0, default: 1, description: 'Seed of the workload and the arrivals.', helpGroup }),
};

/** The parsed workload flags as the workload loader takes them; `count` when --num-prompts is not given. */
export function workloadOptions(f: Interfaces.InferredFlags<typeof workloadFlags>, count: number): WorkloadOptions {
  return {
    dataset: f.dataset,
    path: f['dataset-path'],
    count: f['num-prompts'] ?? count,
    seed: f.seed,
    inputLen: f['random-input-len'],
    outputLen: f['random-output-len'],
    rangeRatio: f['random-range-ratio'],
    turns: f.turns,
    sharedPrefix: {
      groups: f['gsp-num-groups'],
      promptsPerGroup: f['gsp-prompts-per-group'],
      systemPromptLen: f['gsp-system-prompt-len'],
      questionLen: f['gsp-question-len'],
      outputLen: f['gsp-output-len'],
    },
  };
}
