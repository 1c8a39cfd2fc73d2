import { Errors, Flags } from '@oclif/core';
import type { Interfaces } from '@oclif/core';
import type { SamplingParams } from '../protocol.js';
import { numberFlag } from './number_flag.js';

/** The prompt as token ids, and how `sgl trace` samples (the request fields of the OpenAI API, as flags). */
export const samplingFlags = {
  'input-ids': Flags.custom<number[]>({
    description: 'The prompt as comma-separated token ids, tokenized already (works with --skip-tokenizer-init).',
    parse: async (input) => {
      const ids = input.split(',').map((s) => s.trim());
      if (!ids.every((s) => /^\d+$/.test(s)))
        throw new Errors.CLIError(`--input-ids takes comma-separated token ids (e.g. 15496,11,616), got ${JSON.stringify(input)}.`, { exit: 2 });
      return ids.map(Number);
    },
  })(),
  'max-tokens': Flags.integer({ min: 1, default: 32, description: 'Most tokens to generate.' }),
  temperature: numberFlag({ min: 0, default: 0, description: 'Sampling temperature; 0 is greedy.' }),
  'top-p': numberFlag({ min: 0, exclusiveMin: true, max: 1, description: 'Nucleus sampling mass (0, 1].' }),
  'top-k': Flags.integer({ min: 0, description: 'Sample from the k most likely tokens (0: off).' }),
  seed: Flags.integer({ min: 0, description: 'Seed; the same seed gives the same tokens.' }),
  stop: Flags.string({ multiple: true, description: 'Stop when this text appears (repeatable).' }),
  'ignore-eos': Flags.boolean({ description: 'Keep generating past the end-of-sequence token.' }),
};

/** The parsed sampling flags as a request's sampling parameters. */
export function samplingParams(f: Interfaces.InferredFlags<typeof samplingFlags>): Partial<SamplingParams> {
  return { maxTokens: f['max-tokens'], temperature: f.temperature, topP: f['top-p'], topK: f['top-k'], seed: f.seed, stop: f.stop, ignoreEos: f['ignore-eos'] };
}
