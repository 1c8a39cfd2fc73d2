import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR } from '../model_dir.js';
import { buildLlamaGraph } from './llama_graph.js';
import type { KvDtype, KvLayoutKind } from './llama_graph.js';
import type { LlamaConfig, PresetName } from './llama_weights.js';
import { GPT2_EOS, generateWeights, parameterCount } from './llama_weights.js';
import { GENERATOR_VERSION } from './model_cache.js';
import { encodeModel } from './onnx_proto.js';

/** A chat template for the GPT-2 vocabulary, which has no chat tokens of its own. */
const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

export interface GeneratedModel {
  dir: string;
  parameters: number;
  onnxBytes: number;
}

/**
 * Writes a complete Hugging Face / onnx-community model directory:
 * config.json, generation_config.json, tokenizer.json, tokenizer_config.json
 * and onnx/model.onnx. Files are written to temporary names and renamed, so
 * an interrupted run never leaves a directory that looks complete.
 */
export function writeLlamaModel(
  dir: string,
  preset: PresetName | 'custom',
  config: LlamaConfig,
  layout: KvLayoutKind = 'slots',
  kvDtype: KvDtype = 'float32',
  /** onnxruntime-genai's interface (buildLlamaGraph's `genai`). */
  genai = false,
): GeneratedModel {
  // Every preset shares the embedded model's GPT-2 tokenizer files.
  const tokenizerJson = readFileSync(join(DEFAULT_MODEL_DIR, 'tokenizer.json'));
  const tokenizerConfig = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'tokenizer_config.json'), 'utf8'));

  const weights = generateWeights(config);
  const onnx = encodeModel(
    buildLlamaGraph(
      config,
      weights,
      { 'sgl.preset': preset, 'sgl.seed': String(config.seed), 'sgl.generator': String(GENERATOR_VERSION[layout]) },
      layout,
      kvDtype,
      genai,
    ),
  );

  const hfConfig = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    max_position_embeddings: config.maxPositions,
    rope_theta: config.ropeTheta,
    rms_norm_eps: config.rmsNormEps,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    bos_token_id: GPT2_EOS,
    eos_token_id: GPT2_EOS,
    torch_dtype: 'float32',
    sgl: {
      preset,
      seed: config.seed,
      generator: GENERATOR_VERSION[layout],
      ...(kvDtype === 'float32' ? {} : { kv_cache_dtype: kvDtype }),
      ...(genai ? { interface: 'onnxruntime-genai' } : {}),
      onnx_sha256: createHash('sha256').update(onnx).digest('hex'),
    },
  };

  mkdirSync(join(dir, 'onnx'), { recursive: true });
  const write = (name: string, data: string | Uint8Array): void => {
    const path = join(dir, name);
    writeFileSync(`${path}.tmp`, data);
    renameSync(`${path}.tmp`, path);
  };
  write('tokenizer.json', tokenizerJson);
  write('tokenizer_config.json', JSON.stringify({ ...tokenizerConfig, model_max_length: config.maxPositions, chat_template: CHAT_TEMPLATE }, null, 2) + '\n');
  write('generation_config.json', JSON.stringify({ bos_token_id: GPT2_EOS, eos_token_id: GPT2_EOS }, null, 2) + '\n');
  write(join('onnx', 'model.onnx'), onnx);
  // config.json last: its presence marks the directory complete.
  write('config.json', JSON.stringify(hfConfig, null, 2) + '\n');
  return { dir, parameters: parameterCount(config), onnxBytes: onnx.length };
}
