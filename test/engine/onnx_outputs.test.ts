import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/lib/engine/generator/onnx_proto.js';
import { buildRepackGraph } from '../../src/lib/engine/onnx/kv_repack_graph.js';
import { OUTLINE_OPS, sharesPastAndPresent } from '../../src/lib/engine/onnx/decoder_io.js';
import { onnxGraphOutline, onnxOutputNames } from '../../src/lib/engine/onnx/onnx_outputs.js';
import { SHARED_MODEL, TINY_MODEL, hasSharedModel, tinyGenaiGqaModel, tinyGqaModel } from '../helpers/models.js';

describe("reading an ONNX file's output names without loading it", () => {
  const models = [join(TINY_MODEL, 'onnx/model.onnx'), ...(hasSharedModel ? [join(SHARED_MODEL, 'model.onnx')] : [])];
  it.each(models)('names what onnxruntime names, in its order: %s', async (path) => {
    const session = await ort.InferenceSession.create(path);
    try {
      expect(onnxOutputNames(path)).toEqual(session.outputNames);
    } finally {
      await session.release();
    }
  });

  it('reads a graph written by sgl itself, and refuses a truncated file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgl-onnx-outputs-'));
    const file = join(dir, 'repack.onnx');
    writeFileSync(file, encodeModel(buildRepackGraph(2, 4, 2, 8, 'float16')));
    expect(onnxOutputNames(file)).toEqual(['kv0', 'kv1', 'kv2', 'kv3', 'done']);
    const cut = join(dir, 'cut.onnx');
    writeFileSync(cut, readFileSync(join(TINY_MODEL, 'onnx/model.onnx')).subarray(0, 4096));
    expect(() => onnxOutputNames(cut)).toThrow(/end of file/);
  });
});

describe("telling an onnxruntime-genai GroupQueryAttention export from the graph's nodes", () => {
  const outline = (dir: string, file = 'onnx/model.onnx') => onnxGraphOutline(join(dir, file), OUTLINE_OPS);

  it("finds each layer's GroupQueryAttention, its past in and its present out", () => {
    const genai = outline(tinyGenaiGqaModel());
    expect(genai.nodes.map((n) => n.op)).toEqual(['GroupQueryAttention', 'GroupQueryAttention']);
    expect(genai.nodes[1].inputs.slice(3, 5)).toEqual(['past_key_values.1.key', 'past_key_values.1.value']);
    expect(genai.nodes[1].outputs.slice(1)).toEqual(['present.1.key', 'present.1.value']);
    expect(sharesPastAndPresent(genai)).toBe(true);
  });

  it('leaves every other model as it was: sgl gqa (cache_lengths), dense exports, MultiHeadAttention exports', () => {
    expect(sharesPastAndPresent(outline(tinyGqaModel()))).toBe(false);
    expect(sharesPastAndPresent(outline(TINY_MODEL))).toBe(false);
    if (hasSharedModel) expect(sharesPastAndPresent(outline(SHARED_MODEL, 'model.onnx'))).toBe(false);
  });

  it("does not share a buffer when a present output is not the attention's own, or a layer has none", () => {
    const genai = outline(tinyGenaiGqaModel());
    const renamed = { ...genai, nodes: genai.nodes.map((n, i) => (i === 1 ? { ...n, outputs: [n.outputs[0], 'other', n.outputs[2]] } : n)) };
    expect(sharesPastAndPresent(renamed)).toBe(false);
    expect(sharesPastAndPresent({ ...genai, nodes: genai.nodes.slice(0, 1) })).toBe(false);
  });
});
