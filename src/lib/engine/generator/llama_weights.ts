import { floatToHalf, halfToFloat } from '../fp16.js';
import { Rng } from '../../stats/rng.js';

/** Architecture of a generated LLaMA-style decoder (Hugging Face config names in camelCase). */
export interface LlamaConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositions: number;
  ropeTheta: number;
  rmsNormEps: number;
  seed: number;
}

/** GPT-2's byte-level BPE (the embedded model's tokenizer.json). */
export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_EOS = 50256;

/**
 * Gain of the projections that write into the residual stream. With tied
 * embeddings a weak residual update makes the model echo its input token;
 * a gain that rivals the unit-variance embedding gives varied greedy text.
 */
const OUT_GAIN = 8;

const base = { vocabSize: GPT2_VOCAB_SIZE, ropeTheta: 10000, rmsNormEps: 1e-5, seed: 1234 };

/**
 * Presets of the generated model. `tiny` is committed under fixtures/ for
 * tests and first runs; the others are generated on demand for benchmarks.
 */
export const PRESETS = {
  tiny: { ...base, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, maxPositions: 1024 },
  small: { ...base, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 8, numKvHeads: 4, headDim: 32, maxPositions: 2048 },
  base: { ...base, hiddenSize: 512, intermediateSize: 1408, numLayers: 8, numHeads: 8, numKvHeads: 4, headDim: 64, maxPositions: 2048 },
} satisfies Record<string, LlamaConfig>;

export type PresetName = keyof typeof PRESETS;

export interface LayerWeights {
  inputNorm: Float32Array;
  q: Float32Array; // [hidden, heads*headDim]
  k: Float32Array; // [hidden, kvHeads*headDim]
  v: Float32Array; // [hidden, kvHeads*headDim]
  o: Float32Array; // [heads*headDim, hidden]
  postNorm: Float32Array;
  gate: Float32Array; // [hidden, intermediate]
  up: Float32Array; // [hidden, intermediate]
  down: Float32Array; // [intermediate, hidden]
}

/** Weights as float32 values that are exactly representable in fp16 (how they are stored). */
export interface LlamaWeights {
  embed: Float32Array; // [vocab, hidden], tied with the LM head
  layers: LayerWeights[];
  finalNorm: Float32Array;
}

export function parameterCount(c: LlamaConfig): number {
  const attn = c.hiddenSize * c.headDim * (2 * c.numHeads + 2 * c.numKvHeads);
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  return c.vocabSize * c.hiddenSize + c.numLayers * (attn + mlp + 2 * c.hiddenSize) + c.hiddenSize;
}

/** Deterministic weights from `config.seed`, rounded to fp16. */
export function generateWeights(c: LlamaConfig): LlamaWeights {
  const rng = new Rng(c.seed);
  const normal = (n: number, std: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfToFloat(floatToHalf(rng.normal() * std));
    return out;
  };
  const norm = (n: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfToFloat(floatToHalf(1 + 0.1 * rng.normal()));
    return out;
  };
  const h = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  // Unit-variance embeddings keep the tied LM head's logits well separated,
  // so greedy choices are not decided by rounding noise.
  const embed = normal(c.vocabSize * h, 1);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    layers.push({
      inputNorm: norm(h),
      q: normal(h * qDim, 1 / Math.sqrt(h)),
      k: normal(h * kvDim, 1 / Math.sqrt(h)),
      v: normal(h * kvDim, 1 / Math.sqrt(h)),
      o: normal(qDim * h, OUT_GAIN / Math.sqrt(qDim)),
      postNorm: norm(h),
      gate: normal(h * c.intermediateSize, 1 / Math.sqrt(h)),
      up: normal(h * c.intermediateSize, 1 / Math.sqrt(h)),
      down: normal(c.intermediateSize * h, OUT_GAIN / Math.sqrt(c.intermediateSize)),
    });
  }
  return { embed, layers, finalNorm: norm(h) };
}

/** Rotary tables [maxPositions, headDim/2] as Hugging Face's LlamaRotaryEmbedding computes them. */
export function rotaryTables(c: LlamaConfig): { cos: Float32Array; sin: Float32Array } {
  const half = c.headDim / 2;
  const cos = new Float32Array(c.maxPositions * half);
  const sin = new Float32Array(c.maxPositions * half);
  for (let p = 0; p < c.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
      cos[p * half + i] = Math.cos(p * invFreq);
      sin[p * half + i] = Math.sin(p * invFreq);
    }
  }
  return { cos, sin };
}
