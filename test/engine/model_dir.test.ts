import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { DataType, encodeModel } from '../../src/lib/engine/generator/onnx_proto.js';
import { loadModelSpec } from '../../src/lib/engine/model_dir.js';
import { DeviceError, ModelError } from '../../src/lib/errors.js';
import { TINY_MODEL } from '../helpers/models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sgl-modeldir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function modelDir(name: string, files: string[]): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of files) copyFileSync(join(TINY_MODEL, f), join(dir, f));
  return dir;
}

describe('model directories', () => {
  it('reads the embedded model in the Hugging Face layout', () => {
    const spec = loadModelSpec();
    expect(spec).toMatchObject({ id: 'sgl-llama-tiny', layout: 'huggingface', contextLength: 1024, vocabSize: 50257, eosTokenIds: [50256] });
    expect(spec.onnxPath.endsWith(join('onnx', 'model.onnx'))).toBe(true);
  });

  it.each([
    ['a missing directory', () => join(tmp, 'nope'), /does not exist/],
    ['no config', () => modelDir('no-config', ['tokenizer.json', 'tokenizer_config.json']), /neither config\.json .* nor genai_config\.json/],
    [
      'no ONNX file',
      () => modelDir('no-onnx', ['tokenizer.json', 'tokenizer_config.json', 'config.json']),
      /no ONNX decoder: looked for onnx\/model\.onnx and model\.onnx/,
    ],
  ])('explains %s', (_, make, message) => {
    expect(() => loadModelSpec(make())).toThrow(ModelError);
    expect(() => loadModelSpec(make())).toThrow(message);
  });

  it('names the inputs and outputs a graph lacks', async () => {
    const dir = modelDir('not-a-decoder', ['tokenizer.json', 'tokenizer_config.json', 'config.json']);
    // A valid ONNX graph that is not a decoder: logits = Identity(input_ids).
    const onnx = encodeModel({
      graphName: 'identity',
      producer: 'test',
      opset: 17,
      nodes: [{ op: 'Cast', inputs: ['input_ids'], outputs: ['logits'], name: 'cast', attributes: { to: DataType.FLOAT } }],
      initializers: [],
      inputs: [{ name: 'input_ids', dataType: DataType.INT64, shape: ['batch', 'seq'] }],
      outputs: [{ name: 'logits', dataType: DataType.FLOAT, shape: ['batch', 'seq'] }],
    });
    writeFileSync(join(dir, 'onnx', 'model.onnx'), onnx);
    const err = await Engine.create({ modelPath: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(/lacks input attention_mask/);
    expect((err as Error).message).toMatch(/past_key_values/);
  });
});

const cudaInstalled = existsSync(
  join(
    dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')),
    'bin/napi-v6',
    process.platform,
    process.arch,
    'libonnxruntime_providers_cuda.so',
  ),
);

describe.skipIf(cudaInstalled)('--device cuda without the CUDA provider', () => {
  it('is a clear error with the install hint, never a silent CPU fallback', async () => {
    const err = await Engine.create({ device: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toMatch(/CUDA execution provider is not installed/);
    expect((err as Error).message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });
});
