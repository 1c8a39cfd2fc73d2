import { Errors, Flags } from '@oclif/core';
import { numberFlag } from './number_flag.js';
import type { Interfaces } from '@oclif/core';
import { SERVER_DEFAULTS } from '../server/server_defaults.js';
import type { ServerOptions } from '../server/sgl_server.js';

/** Where serve listens and what it lets clients do. */
export const serverFlags = {
  host: Flags.string({ default: '127.0.0.1', description: 'Address to listen on (0.0.0.0 to accept remote clients).' }),
  port: Flags.integer({ min: 0, max: 65535, default: 30000, description: 'Port to listen on (0: any free port).' }),
  'api-key': Flags.string({
    description: 'Require Authorization: Bearer <key> on every route but the probes /health and /ready.',
    parse: async (key) => {
      if (key === '') throw new Errors.CLIError('--api-key is empty, which would let every client in; give a key or leave the flag out.', { exit: 2 });
      return key;
    },
  }),
  'max-queued-requests': Flags.integer({
    min: 0,
    default: 256,
    description: 'Requests that may wait beyond the running batch; more get 503 with Retry-After.',
  }),
  'max-body-size': Flags.integer({ min: 1024, default: 4 * 2 ** 20, description: 'Largest request body in bytes.' }),
  'enable-metrics': Flags.boolean({ description: 'Serve Prometheus metrics on /metrics.' }),
  'enable-per-request-metrics': Flags.boolean({
    description:
      "Answer a request's include_metrics: true with vLLM's per-request metrics object (time_to_first_token_ms, generation_time_ms, queue_time_ms, mean_itl_ms, tokens_per_second); in the last chunk when streaming. As vLLM, ignored without this flag.",
  }),
  'allowed-origins': Flags.string({
    multiple: true,
    delimiter: ',',
    description:
      'Web page origins (e.g. http://localhost:5173, or *) whose requests are served, with CORS headers. Default: none; curl and SDKs send no Origin and are not affected.',
  }),
  'max-connections': Flags.integer({
    min: 1,
    default: SERVER_DEFAULTS.maxConnections,
    description:
      'Most open connections. Past it a new one closes the connection idle longest (no request in progress), or, when every one has a request in progress, gets 503 with Retry-After.',
  }),
  'headers-timeout': Flags.integer({
    min: 1,
    default: SERVER_DEFAULTS.headersTimeoutMs / 1000,
    description: 'Seconds a client may take to send its request headers (then 408).',
  }),
  'request-timeout': Flags.integer({
    min: 1,
    default: SERVER_DEFAULTS.requestTimeoutMs / 1000,
    description: 'Seconds a client may take to send its whole request, body included (then 408). Generation time does not count.',
  }),
  'drain-timeout': Flags.integer({
    min: 0,
    default: 30,
    description: 'Seconds from SIGTERM/SIGINT to exit: running requests finish and exporters flush within it.',
  }),
  'shutdown-delay': numberFlag({
    min: 0,
    default: 0,
    description:
      'Seconds after SIGTERM/SIGINT during which GET /ready answers 503 but requests are still accepted, so a load balancer that checks /ready stops sending before the listener closes; taken out of --drain-timeout.',
  }),
};

/** The parsed server flags as SglServer takes them. */
export function serverOptions(f: Interfaces.InferredFlags<typeof serverFlags>): ServerOptions {
  return {
    host: f.host,
    port: f.port,
    apiKey: f['api-key'],
    maxQueuedRequests: f['max-queued-requests'],
    maxBodyBytes: f['max-body-size'],
    enableMetrics: f['enable-metrics'],
    maxConnections: f['max-connections'],
    allowedOrigins: f['allowed-origins'] ?? [],
    enablePerRequestMetrics: f['enable-per-request-metrics'],
    headersTimeoutMs: f['headers-timeout'] * 1000,
    requestTimeoutMs: f['request-timeout'] * 1000,
  };
}
