import { Errors, Flags } from '@oclif/core';
import type { Endpoint } from '../target/targets.js';

const ENDPOINTS: Record<string, Endpoint> = { completions: 'completions', chat: 'chat', '/v1/completions': 'completions', '/v1/chat/completions': 'chat' };
import { FLEET_POLICIES } from '../target/fleet.js';

/** Flags of the commands that can send their workload to a server instead of the in-process engine. */
export const targetFlags = {
  url: Flags.string({
    multiple: true,
    description:
      'Send the requests to this OpenAI-compatible server instead of the in-process engine. Repeat it for several replicas of one model: requests are spread by --url-policy, figures are broken down per server, and a server that refuses connections is passed over (its requests go to the next).',
    helpGroup: 'TARGET',
  }),
  'url-policy': Flags.option({
    options: FLEET_POLICIES,
    default: 'round-robin' as const,
    description: 'How requests are spread over several --url: in turn, or to the server with the fewest in flight.',
    helpGroup: 'TARGET',
  })(),
  endpoint: Flags.custom<Endpoint>({
    default: 'completions',
    description: "Streaming endpoint to use with --url: completions or chat (vLLM's paths /v1/completions and /v1/chat/completions also).",
    helpGroup: 'TARGET',
    parse: async (v) => {
      const e = ENDPOINTS[v.trim().replace(/\/+$/, '')];
      if (!e) throw new Errors.CLIError(`--endpoint takes completions or chat (or /v1/completions, /v1/chat/completions), got ${v}.`, { exit: 2 });
      return e;
    },
  })(),
  'api-key': Flags.string({ description: 'Bearer key for --url.', helpGroup: 'TARGET' }),
};

/** Bench's options for a server given with --url. */
export const httpBenchFlags = {
  'server-timing': Flags.boolean({
    description:
      "With --url: ask for each request's own timing (sgl's include_timing, or vLLM's include_metrics from a server started with --enable-per-request-metrics) and report client TTFT less server TTFT as transport time.",
    helpGroup: 'TARGET',
    dependsOn: ['url'],
  }),
  'tokenize-prompt': Flags.boolean({
    description: "With --url and --endpoint completions: send token ids instead of text, leaving the server's tokenizer out of TTFT.",
    helpGroup: 'TARGET',
    dependsOn: ['url'],
  }),
};
