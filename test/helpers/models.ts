import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KvDtype, KvLayoutKind } from '../../src/lib/engine/generator/llama_graph.js';
import { PRESETS } from '../../src/lib/engine/generator/llama_weights.js';
import { writeLlamaModel } from '../../src/lib/engine/generator/model_writer.js';
import { DEFAULT_MODEL_DIR } from '../../src/lib/engine/model_dir.js';

/** The embedded model: the tiny preset in the dense KV layout (generator 2). */
export const TINY_MODEL = DEFAULT_MODEL_DIR;

const generated = new Map<string, string>();

/** The tiny preset's weights in a KV layout, written once per test file into a temporary directory. */
function tinyModel(layout: KvLayoutKind, kvDtype: KvDtype = 'float32', genai = false): string {
  const key = `${layout}-${kvDtype}${genai ? '-genai' : ''}`;
  let dir = generated.get(key);
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), `sgl-${key}-`));
    writeLlamaModel(dir, 'tiny', PRESETS.tiny, layout, kvDtype, genai);
    generated.set(key, dir);
  }
  return dir;
}

/** The tiny preset in the slot KV layout (generator 3). */
export const tinySlotModel = (): string => tinyModel('slots');
/** The tiny preset in the gqa KV layout (generator 4: GroupQueryAttention writes the cache in place). */
export const tinyGqaModel = (): string => tinyModel('gqa');
/** The tiny preset in the gqa KV layout with an fp16 cache (the rest of the graph fp32). */
export const tinyGqaFp16Model = (): string => tinyModel('gqa', 'float16');

/** The tiny preset with heads of 16 (GroupQueryAttention rotates only heads of a multiple of 16). */
const GENAI_CONFIG = { ...PRESETS.tiny, numHeads: 2, numKvHeads: 1, headDim: 16 };
const genaiModels = new Map<string, string>();
function headsOf16(layout: KvLayoutKind, genai: boolean): string {
  const key = `${layout}-${genai}`;
  let dir = genaiModels.get(key);
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), `sgl-heads16-${key}-`));
    writeLlamaModel(dir, 'custom', GENAI_CONFIG, layout, 'float32', genai);
    genaiModels.set(key, dir);
  }
  return dir;
}
/**
 * A tiny model as onnxruntime-genai exports a GroupQueryAttention decoder (input_ids, attention_mask and the
 * past in; every position's logits and present out; the rotary embedding inside the attention), and the same
 * weights in the dense layout to check it against.
 */
export const tinyGenaiGqaModel = (): string => headsOf16('gqa', true);
export const tinyGenaiReference = (): string => headsOf16('dense', false);

/** The third-party export kept in ../shared (never copied into the repository). */
export const SHARED_MODEL = resolve(import.meta.dirname, '../../../shared/models/tiny-random-llama-fp16');
export const hasSharedModel = existsSync(SHARED_MODEL);

/** The embedded model with another tokenizer.json (transformed from its own), or none. */
export function modelWithTokenizer(transform: ((json: Record<string, unknown>) => unknown) | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'sgl-tokenizer-'));
  for (const f of ['config.json', 'generation_config.json', 'tokenizer_config.json']) copyFileSync(join(DEFAULT_MODEL_DIR, f), join(dir, f));
  if (transform)
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(transform(JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'tokenizer.json'), 'utf8')))));
  mkdirSync(join(dir, 'onnx'));
  symlinkSync(join(DEFAULT_MODEL_DIR, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model.onnx'));
  return dir;
}

/** The embedded model with another chat template. */
export function modelWithTemplate(template: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sgl-template-'));
  for (const f of ['config.json', 'tokenizer.json', 'generation_config.json']) copyFileSync(join(DEFAULT_MODEL_DIR, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: template }));
  mkdirSync(join(dir, 'onnx'));
  symlinkSync(join(DEFAULT_MODEL_DIR, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model.onnx'));
  return dir;
}
