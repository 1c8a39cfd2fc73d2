import type { Tracing } from '../tracing/tracing.js';
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

/** What an engine is started with; ENGINE_DEFAULTS fills what is left out. */
export interface EngineOptions {
  /** A model directory; the embedded default model when absent. */
  modelPath?: string;
  /** Where the model runs; `auto` takes a GPU provider that starts, else the CPU (the engine's `device` says which). */
  device?: DeviceChoice;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  interOpThreads?: number;
  maxRunningRequests?: number;
  maxPrefillTokens?: number;
  /** KV cache budget in MiB. */
  kvCacheMb?: number;
  /** Tokenizer processes (tokenization and chat templates, off the caller's event loop). */
  tokenizerProcesses?: number;
  /** How long tokenizing one request may take before it fails with a 400. */
  tokenizeTimeoutMs?: number;
  /** Largest prompt (or messages' content) in UTF-8 bytes; default: the context length times the longest token. */
  maxPromptBytes?: number;
  /** Tracing and metrics; off when absent. */
  tracing?: Tracing;
  /** Prefill every prompt from scratch (SGLang's --disable-radix-cache). */
  disablePrefixCache?: boolean;
  /** Load no tokenizer: requests come as token ids and leave as token ids (vLLM's and SGLang's --skip-tokenizer-init). */
  skipTokenizerInit?: boolean;
}
