import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { halfToFloat } from '../../src/lib/engine/fp16.js';
import { collect } from '../helpers/collect.js';
import { SHARED_MODEL, hasSharedModel } from '../helpers/models.js';

// Prompt and tokens from ../shared/models/tiny-random-llama-fp16/SOURCE.md.
const PROMPT = [1, 306, 1045, 338];
const EXPECTED = [4598, 14007, 4827, 7552, 18171, 29183];

/** Greedy decoding that recomputes the whole sequence every step, without a cache. */
async function greedyWithoutCache(steps: number): Promise<number[]> {
  const session = await ort.InferenceSession.create(join(SHARED_MODEL, 'model.onnx'));
  const ids = [...PROMPT];
  const vocab = 32000;
  for (let s = 0; s < steps; s++) {
    const n = ids.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, n]),
    };
    for (let l = 0; l < 2; l++)
      for (const k of ['key', 'value']) feeds[`past_key_values.${l}.${k}`] = new ort.Tensor('float16', new Uint16Array(0), [1, 1, 0, 16]);
    const logits = (await session.run(feeds)).logits.data as Uint16Array;
    let best = 0;
    for (let v = 1; v < vocab; v++) if (halfToFloat(logits[(n - 1) * vocab + v]) > halfToFloat(logits[(n - 1) * vocab + best])) best = v;
    ids.push(best);
  }
  await session.release();
  return ids.slice(PROMPT.length);
}

describe.runIf(hasSharedModel)('third-party export: tiny-random-llama-fp16 (onnxruntime-genai layout, fp16 KV, contrib ops)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.create({ modelPath: SHARED_MODEL });
  });
  afterAll(() => engine?.shutdown());

  it('reads the genai layout and the session interface', () => {
    expect(engine.spec.layout).toBe('onnxruntime-genai');
    expect(engine.info).toMatchObject({ numLayers: 2, kvHeads: 1, headDim: 16, kvType: 'float16', vocabSize: 32000 });
    expect(engine.spec.eosTokenIds).toEqual(expect.arrayContaining([1, 2]));
  });

  it('greedy decoding with the KV cache equals recomputing without it', async () => {
    const cached = await collect(engine, { inputIds: PROMPT, sampling: { temperature: 0, maxTokens: EXPECTED.length, ignoreEos: true } });
    expect(cached.tokens).toEqual(EXPECTED);
    expect(await greedyWithoutCache(EXPECTED.length)).toEqual(EXPECTED);
  });

  it('tokenizes with the Llama BPE (merges as pairs) and decodes text', async () => {
    const r = await collect(engine, { prompt: 'I love', sampling: { temperature: 0, maxTokens: 8, ignoreEos: true } });
    expect(engine.tokenizer.encode('I love')).toEqual([1, 306, 5360]);
    expect(r.tokens).toHaveLength(8);
    expect(r.text).toBe(engine.tokenizer.decode(r.tokens));
  });
});
