import { Flags } from '@oclif/core';
import type { DeviceChoice, EngineOptions } from '../engine/engine.js';
import { ENGINE_DEFAULTS } from '../engine/engine_defaults.js';
import { DEVICE_CHOICES } from '../engine/devices.js';
import { numberFlag } from './number_flag.js';

/** Flags of every command that starts the in-process engine. */
export const engineFlags = {
  'model-path': Flags.string({
    description: 'Model directory (Hugging Face / onnx-community or onnxruntime-genai layout). Default: the embedded tiny model.',
    helpGroup: 'ENGINE',
  }),
  device: Flags.option({
    options: DEVICE_CHOICES,
    default: ENGINE_DEFAULTS.device,
    description:
      'Execution provider. webgpu ships with onnxruntime-node and needs a GPU driver (Vulkan, Metal or D3D12); cuda needs the CUDA provider libraries; auto takes a GPU provider that starts, else the CPU (see docs/engine.md).',
    helpGroup: 'ENGINE',
  })(),
  threads: Flags.integer({ min: 1, description: 'onnxruntime intra-op threads (default: all cores).', helpGroup: 'ENGINE' }),
  'max-running-requests': Flags.integer({
    min: 1,
    default: ENGINE_DEFAULTS.maxRunningRequests,
    description: 'Most requests in the running batch.',
    helpGroup: 'ENGINE',
  }),
  'max-prefill-tokens': Flags.integer({
    min: 1,
    default: ENGINE_DEFAULTS.maxPrefillTokens,
    description: 'Padded prompt tokens per prefill run; longer prompts are prefilled in chunks.',
    helpGroup: 'ENGINE',
  }),
  'kv-cache-mb': Flags.integer({
    min: 1,
    default: ENGINE_DEFAULTS.kvCacheMb,
    description: 'KV cache budget in MiB; requests wait in the queue when it is full.',
    helpGroup: 'ENGINE',
  }),
  'tokenizer-processes': Flags.integer({
    min: 1,
    default: ENGINE_DEFAULTS.tokenizerProcesses,
    description: 'Processes that tokenize prompts and render chat templates, off the main event loop.',
    helpGroup: 'ENGINE',
  }),
  'tokenize-timeout': numberFlag({
    min: 0,
    exclusiveMin: true,
    default: ENGINE_DEFAULTS.tokenizeTimeoutMs / 1000,
    description: 'Seconds tokenizing one request (chat template included) may take; past it the request fails with 400.',
    helpGroup: 'ENGINE',
  }),
  'max-prompt-bytes': Flags.integer({
    min: 1,
    description: 'Largest prompt in bytes, refused before tokenizing (default: context length x the longest token).',
    helpGroup: 'ENGINE',
  }),
  'skip-tokenizer-init': Flags.boolean({
    default: false,
    description:
      'Load no tokenizer: requests are token ids (prompt as ids, input_ids, --input-ids) and outputs token ids without text, as vLLM and SGLang take it. For models whose tokenizer files are missing or unusable.',
    helpGroup: 'ENGINE',
  }),
  'disable-prefix-cache': Flags.boolean({
    default: false,
    description: "Prefill every prompt from scratch instead of reusing the KV of prefixes seen before (as SGLang's --disable-radix-cache).",
    helpGroup: 'ENGINE',
  }),
};

interface EngineFlagValues {
  'model-path'?: string;
  device: DeviceChoice;
  threads?: number;
  'max-running-requests': number;
  'max-prefill-tokens': number;
  'kv-cache-mb': number;
  'tokenizer-processes': number;
  'tokenize-timeout': number;
  'max-prompt-bytes'?: number;
  'disable-prefix-cache': boolean;
  'skip-tokenizer-init': boolean;
}

export function engineOptions(flags: EngineFlagValues): EngineOptions {
  return {
    modelPath: flags['model-path'],
    device: flags.device,
    threads: flags.threads,
    maxRunningRequests: flags['max-running-requests'],
    maxPrefillTokens: flags['max-prefill-tokens'],
    kvCacheMb: flags['kv-cache-mb'],
    tokenizerProcesses: flags['tokenizer-processes'],
    tokenizeTimeoutMs: flags['tokenize-timeout'] * 1000,
    maxPromptBytes: flags['max-prompt-bytes'],
    disablePrefixCache: flags['disable-prefix-cache'],
    skipTokenizerInit: flags['skip-tokenizer-init'],
  };
}
