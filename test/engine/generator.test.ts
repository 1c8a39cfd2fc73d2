import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GPT2_VOCAB_SIZE, PRESETS, generateWeights } from '../../src/lib/engine/generator/llama_weights.js';
import { writeLlamaModel } from '../../src/lib/engine/generator/model_writer.js';
import { referenceForward } from '../helpers/llama_reference.js';
import { TINY_MODEL } from '../helpers/models.js';

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const tmp = mkdtempSync(join(tmpdir(), 'sgl-gen-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function feeds(ids: number[], pastLen: number, past?: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const c = PRESETS.tiny;
  const total = pastLen + ids.length;
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(pastLen + i))), [1, ids.length]),
  };
  for (let l = 0; l < c.numLayers; l++) {
    for (const kind of ['key', 'value']) {
      f[`past_key_values.${l}.${kind}`] = past?.[`present.${l}.${kind}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, c.numKvHeads, 0, c.headDim]);
    }
  }
  return f;
}

describe('generated LLaMA model', () => {
  it('the committed fixture is exactly what the generator writes for the tiny preset', () => {
    writeLlamaModel(tmp, 'tiny', PRESETS.tiny, 'dense');
    for (const file of ['onnx/model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(sha(join(tmp, file)), file).toBe(sha(join(TINY_MODEL, file)));
    }
    const config = JSON.parse(readFileSync(join(TINY_MODEL, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', vocab_size: GPT2_VOCAB_SIZE, num_key_value_heads: 2, num_attention_heads: 4 });
  });

  it('onnxruntime logits match an independent TypeScript forward pass of the same weights', async () => {
    const c = PRESETS.tiny;
    const ids = [15496, 11, 616, 1438, 318, 1757];
    const expected = referenceForward(c, generateWeights(c), ids);
    const session = await ort.InferenceSession.create(join(TINY_MODEL, 'onnx/model.onnx'));
    // The graph returns the last position's logits only: each prefix of the prompt checks one position.
    let worst = 0;
    for (let t = 0; t < ids.length; t++) {
      const out = await session.run(feeds(ids.slice(0, t + 1), 0));
      expect(out.logits.dims).toEqual([1, 1, c.vocabSize]);
      const logits = out.logits.data as Float32Array;
      for (let v = 0; v < c.vocabSize; v++) worst = Math.max(worst, Math.abs(logits[v] - expected[t][v]));
    }
    expect(worst).toBeLessThan(2e-3);
    // The logits are not degenerate: positions disagree on their favourite token.
    const argmaxes = expected.map((row) => row.indexOf(Math.max(...row)));
    expect(new Set(argmaxes).size).toBeGreaterThan(1);

    // With the cache: the last token fed against the past of the others gives the same row.
    const prefix = await session.run(feeds(ids.slice(0, -1), 0));
    const step = await session.run(feeds(ids.slice(-1), ids.length - 1, prefix));
    const stepLogits = step.logits.data as Float32Array;
    let worstCached = 0;
    for (let v = 0; v < c.vocabSize; v++) worstCached = Math.max(worstCached, Math.abs(stepLogits[v] - expected[ids.length - 1][v]));
    expect(worstCached).toBeLessThan(2e-3);
    await session.release();
  });
});
