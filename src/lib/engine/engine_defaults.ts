import type { DeviceChoice } from './devices.js';

/**
 * The engine's defaults, in a module of their own: the CLI's flag
 * definitions show them, and importing engine.ts for them would load the
 * tokenizer libraries for every command that merely defines its flags.
 */
export const ENGINE_DEFAULTS = {
  device: 'cpu' as DeviceChoice,
  maxRunningRequests: 32,
  maxPrefillTokens: 1024,
  kvCacheMb: 1024,
  tokenizerProcesses: 2,
  tokenizeTimeoutMs: 5000,
};
