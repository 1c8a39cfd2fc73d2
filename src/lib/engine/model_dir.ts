import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError } from '../errors.js';

/** The embedded default model, committed under fixtures/. */
export const DEFAULT_MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/models/sgl-llama-tiny');

/** What the main thread needs to know of a model directory. */
export interface ModelSpec {
  dir: string;
  id: string;
  onnxPath: string;
  layout: 'huggingface' | 'onnxruntime-genai';
  contextLength: number;
  vocabSize: number | null;
  eosTokenIds: number[];
  /** Null when the directory has none (the engine can still run from token ids: --skip-tokenizer-init). */
  tokenizerJson: object | null;
  tokenizerConfig: Record<string, unknown>;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ModelError(`Cannot read ${path}: ${(err as Error).message}. Check that the model directory is complete.`);
  }
}

function ids(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number');
  return [];
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Reads a Hugging Face / onnx-community model directory (config.json,
 * onnx/model.onnx or model.onnx) or an onnxruntime-genai one (genai_config.json).
 */
export function loadModelSpec(path: string = DEFAULT_MODEL_DIR): ModelSpec {
  const dir = resolve(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelError(
      `Model directory ${dir} does not exist. Pass --model-path with a directory that holds config.json (or genai_config.json), tokenizer.json and an ONNX model.`,
    );
  }
  // Both tokenizer files are needed for text, neither to run the model from token ids; TextTokenizer says which is missing.
  const optionalJson = (file: string): Record<string, unknown> | null => (existsSync(join(dir, file)) ? readJson(join(dir, file)) : null);
  const tokenizerConfig = optionalJson('tokenizer_config.json') ?? {};
  const tokenizerJson = optionalJson('tokenizer.json');
  const eosFromTokenizer = tokenizerJson ? tokenizerEosId(tokenizerJson, tokenizerConfig) : null;

  let layout: ModelSpec['layout'];
  let onnxFile: string | null = null;
  let contextLength: number | null;
  let vocabSize: number | null;
  let eos: number[];
  if (existsSync(join(dir, 'genai_config.json'))) {
    layout = 'onnxruntime-genai';
    const model = (readJson(join(dir, 'genai_config.json')).model ?? {}) as Record<string, unknown>;
    const decoder = (model.decoder ?? {}) as Record<string, unknown>;
    onnxFile = typeof decoder.filename === 'string' ? join(dir, decoder.filename) : join(dir, 'model.onnx');
    contextLength = num(model.context_length);
    vocabSize = num(model.vocab_size);
    eos = ids(model.eos_token_id);
  } else if (existsSync(join(dir, 'config.json'))) {
    layout = 'huggingface';
    const config = readJson(join(dir, 'config.json'));
    const genPath = join(dir, 'generation_config.json');
    const generation = existsSync(genPath) ? readJson(genPath) : {};
    onnxFile = [join(dir, 'onnx', 'model.onnx'), join(dir, 'model.onnx')].find((p) => existsSync(p)) ?? null;
    contextLength = num(config.max_position_embeddings) ?? num(tokenizerConfig.model_max_length);
    vocabSize = num(config.vocab_size);
    eos = ids(generation.eos_token_id ?? config.eos_token_id);
  } else {
    throw new ModelError(`Model directory ${dir} has neither config.json (Hugging Face layout) nor genai_config.json (onnxruntime-genai layout).`);
  }
  if (!onnxFile || !existsSync(onnxFile)) {
    throw new ModelError(`Model directory ${dir} has no ONNX decoder: looked for ${layout === 'huggingface' ? 'onnx/model.onnx and model.onnx' : onnxFile}.`);
  }
  if (contextLength === null) throw new ModelError(`Model directory ${dir} does not say its context length (max_position_embeddings or context_length).`);
  // Exports disagree on which id ends a sequence (genai_config.json says 1 where
  // the tokenizer says </s> = 2 for some Llama exports): stop at both.
  if (eosFromTokenizer !== null && !eos.includes(eosFromTokenizer)) eos.push(eosFromTokenizer);
  return { dir, id: basename(dir), onnxPath: onnxFile, layout, contextLength, vocabSize, eosTokenIds: eos, tokenizerJson, tokenizerConfig };
}

function tokenizerEosId(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>): number | null {
  const eos = config.eos_token;
  const content = typeof eos === 'string' ? eos : typeof eos === 'object' && eos !== null ? (eos as { content?: string }).content : undefined;
  if (!content) return null;
  const added = (tokenizerJson.added_tokens ?? []) as { id: number; content: string }[];
  const hit = added.find((t) => t.content === content);
  if (hit) return hit.id;
  const vocab = ((tokenizerJson.model ?? {}) as { vocab?: Record<string, number> }).vocab;
  return vocab && typeof vocab[content] === 'number' ? vocab[content] : null;
}
