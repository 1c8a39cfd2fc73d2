import { Flags } from '@oclif/core';

/** Flags of the commands that can send their workload to a server instead of the in-process engine. */
export const targetFlags = {
  url: Flags.string({ description: 'Send the requests to this OpenAI-compatible server instead of the in-process engine.', helpGroup: 'TARGET' }),
  endpoint: Flags.option({ options: ['completions', 'chat'] as const, default: 'completions' as const, description: 'Streaming endpoint to use with --url.', helpGroup: 'TARGET' })(),
  'api-key': Flags.string({ description: 'Bearer key for --url.', helpGroup: 'TARGET' }),
};
