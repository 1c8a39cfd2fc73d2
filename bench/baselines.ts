/**
 * What the engine is measured against: a bare onnxruntime greedy loop (no
 * scheduler, no worker, no tokenizer in the loop) and @huggingface/transformers
 * text generation, both on the same model directory and session options.
 */
import { execFileSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import type { DecoderIo } from '../src/lib/engine/onnx/model_runner.js';
import { readDecoderIo } from '../src/lib/engine/onnx/decoder_io.js';

export interface SessionSettings {
  intraOpThreads: number;
  interOpThreads: number;
}

export interface LoopResult {
  tokens: number[];
  /** Tokens after the first, per second of decode steps. */
  decodeTokensPerSecond: number;
  totalMs: number;
}

/** Greedy decoding of one prompt, feeding `present` straight back as `past`. */
export class BareOrtLoop {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly io: DecoderIo,
  ) {}

  static async load(onnxPath: string, s: SessionSettings): Promise<BareOrtLoop> {
    const session = await ort.InferenceSession.create(onnxPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: s.intraOpThreads,
      interOpNumThreads: s.interOpThreads,
      graphOptimizationLevel: 'all',
      enableMemPattern: false,
    });
    return new BareOrtLoop(session, readDecoderIo(session));
  }

  async generate(prompt: number[], maxTokens: number): Promise<LoopResult> {
    const { io } = this;
    const start = performance.now();
    const kvType = io.kvType;
    let past: Record<string, ort.Tensor> = {};
    for (const name of io.pastNames) {
      past[name] = new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, io.kvHeads, 0, io.headDim]);
    }
    let ids = prompt.map(BigInt);
    let pos = 0;
    const tokens: number[] = [];
    let decodeStart = 0;
    for (let step = 0; step < maxTokens; step++) {
      const n = ids.length;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, n]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(pos + n).fill(1n), [1, pos + n]),
        ...past,
      };
      if (io.hasPositionIds)
        feeds.position_ids = new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: n }, (_, i) => BigInt(pos + i)),
          [1, n],
        );
      const out = await this.session.run(feeds);
      const logits = out.logits;
      const vocab = logits.dims[2];
      const data = logits.data as Float32Array;
      let best = 0;
      // Every position's logits, or the last one's only (sgl's generated models).
      const off = (logits.dims[1] - 1) * vocab;
      for (let v = 1; v < vocab; v++) if (data[off + v] > data[off + best]) best = v;
      tokens.push(best);
      if (step === 0) decodeStart = performance.now();
      past = {};
      io.pastNames.forEach((name, i) => (past[name] = out[io.presentNames[i]]));
      pos += n;
      ids = [BigInt(best)];
    }
    const end = performance.now();
    return { tokens, decodeTokensPerSecond: ((maxTokens - 1) * 1000) / (end - decodeStart), totalMs: end - start };
  }
}

/** The transformers.js baseline's package: not a dependency of sgl (177 MiB with its own), installed on first use. */
const TRANSFORMERS_JS = '@huggingface/transformers';
const TRANSFORMERS_JS_VERSION = '4.3.2';

interface TransformersModule {
  env: { allowRemoteModels: boolean; allowLocalModels: boolean };
  AutoTokenizer: { from_pretrained(dir: string): Promise<(text: string) => unknown> };
  AutoModelForCausalLM: { from_pretrained(dir: string, options: object): Promise<unknown> };
}

/** Imports transformers.js, installing it into node_modules (npm install --no-save) the first time. */
async function importTransformersJs(): Promise<TransformersModule> {
  // A variable, so the compiler does not look for a package that is installed only here.
  const name: string = TRANSFORMERS_JS;
  try {
    return (await import(name)) as TransformersModule;
  } catch {
    const spec = `${TRANSFORMERS_JS}@${TRANSFORMERS_JS_VERSION}`;
    console.log(`Installing ${spec} for the transformers.js baseline (npm install --no-save; the next npm ci removes it)...`);
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', spec], {
      stdio: 'inherit',
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    });
    return (await import(name)) as TransformersModule;
  }
}

/** @huggingface/transformers' generate() on the same directory, offline. */
export class TransformersJs {
  private constructor(
    private readonly tokenizer: (text: string) => Record<string, unknown>,
    private readonly model: { generate(args: Record<string, unknown>): Promise<unknown> },
  ) {}

  static async load(modelDir: string, s: SessionSettings): Promise<TransformersJs> {
    const tjs = await importTransformersJs();
    tjs.env.allowRemoteModels = false;
    tjs.env.allowLocalModels = true;
    const tokenizer = await tjs.AutoTokenizer.from_pretrained(modelDir);
    const model = await tjs.AutoModelForCausalLM.from_pretrained(modelDir, {
      dtype: 'fp32',
      device: 'cpu',
      session_options: { intraOpNumThreads: s.intraOpThreads, interOpNumThreads: s.interOpThreads, graphOptimizationLevel: 'all', enableMemPattern: false },
    });
    return new TransformersJs((text) => tokenizer(text) as Record<string, unknown>, model as never);
  }

  /** Greedy generation of exactly `maxTokens` tokens; resolves to the wall time in ms. */
  async generate(prompt: string, maxTokens: number): Promise<number> {
    const start = performance.now();
    await this.model.generate({ ...this.tokenizer(prompt), max_new_tokens: maxTokens, min_new_tokens: maxTokens, do_sample: false });
    return performance.now() - start;
  }
}
