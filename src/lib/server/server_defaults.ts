/**
 * Connection limits sized for an inference API: a client sends its request
 * in well under these; generation time never counts against them.
 */
export const SERVER_DEFAULTS = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
};
