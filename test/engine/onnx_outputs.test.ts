import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/lib/engine/generator/onnx_proto.js';
import { buildRepackGraph } from '../../src/lib/engine/onnx/kv_repack_graph.js';
import { onnxOutputNames } from '../../src/lib/engine/onnx/onnx_outputs.js';
import { SHARED_MODEL, TINY_MODEL, hasSharedModel } from '../helpers/models.js';

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
