import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'sgl-generate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('sgl model generate --kv-cache-dtype', () => {
  it('writes a gqa model whose cache is fp16, and says it is there when asked again', async () => {
    const dir = join(tmp, 'gqa-fp16');
    const first = await runCli(['model', 'generate', 'tiny', '--kv-layout', 'gqa', '--kv-cache-dtype', 'fp16', '--output', dir, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ generated: true, dir });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).sgl).toMatchObject({ generator: 4, kv_cache_dtype: 'float16' });

    const session = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'));
    try {
      const type = (name: string, list: readonly ort.InferenceSession.ValueMetadata[]): string | undefined => {
        const m = list.find((v) => v.name === name);
        return m?.isTensor ? m.type : undefined;
      };
      expect(type('past_key_values.0.key', session.inputMetadata)).toBe('float16');
      expect(type('present.1.value', session.outputMetadata)).toBe('float16');
      // The rest of the model stays fp32: only the cache changed.
      expect(type('logits', session.outputMetadata)).toBe('float32');
    } finally {
      await session.release();
    }

    const again = await runCli(['model', 'generate', 'tiny', '--kv-layout', 'gqa', '--kv-cache-dtype', 'fp16', '--output', dir, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ generated: false });
    // The same directory does not pass for an fp32 cache.
    const fp32 = await runCli(['model', 'generate', 'tiny', '--kv-layout', 'gqa', '--output', dir, '--json']);
    expect(JSON.parse(fp32.stdout)).toMatchObject({ generated: true });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).sgl.kv_cache_dtype).toBeUndefined();
  });

  it('refuses an fp16 cache on a layout that keeps an fp32 one, naming the layout that has it', async () => {
    const r = await runCli(['model', 'generate', 'tiny', '--kv-cache-dtype', 'fp16', '--output', join(tmp, 'slots-fp16')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--kv-cache-dtype fp16 needs --kv-layout gqa');
  });
});
