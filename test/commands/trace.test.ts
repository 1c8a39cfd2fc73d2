import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { SHARED_MODEL, hasSharedModel } from '../helpers/models.js';

describe('sgl trace', () => {
  it('generates on the embedded model and prints tokens and timings', async () => {
    const r = await runCli(['trace', 'Hello, my name is', '--max-tokens', '6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sgl-llama-tiny \(cpu\)/);
    expect(r.stdout).toMatch(/tokens\s+\d+ prompt, 6 generated/);
    expect(r.stdout).toMatch(/time to first token\s+[\d.]+ ms/);
  });

  it('emits one JSON document with --json, the same tokens for the same seed', async () => {
    const args = ['trace', 'Once upon a time', '--max-tokens', '5', '--temperature', '0.9', '--seed', '3', '--json'];
    const [a, b] = [await runCli(args), await runCli(args)];
    expect(a.code, a.stderr).toBe(0);
    const ja = JSON.parse(a.stdout);
    const jb = JSON.parse(b.stdout);
    expect(ja.model).toBe('sgl-llama-tiny');
    expect(ja.tokenIds).toHaveLength(5);
    expect(ja.usage.completionTokens).toBe(5);
    expect(ja.finishReason).toBe('length');
    expect(ja.timings.ttftMs).toBeGreaterThan(0);
    expect(jb.tokenIds).toEqual(ja.tokenIds);
  });

  it.skipIf(!hasSharedModel)('runs the third-party model given by --model-path', async () => {
    const r = await runCli(['trace', 'Hello', '--model-path', SHARED_MODEL, '--max-tokens', '6', '--ignore-eos', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.model).toBe('tiny-random-llama-fp16');
    expect(out.tokenIds).toHaveLength(6);
    expect(out.tokenIds.every((t: number) => t >= 0 && t < 32000)).toBe(true);
  });

  it.each([
    [['--max-tokens', '0'], /--max-tokens/],
    [['--temperature', '-1'], /--temperature/],
    [['--top-p', '1.5'], /--top-p/],
    [['--device', 'tpu'], /--device/],
  ])('rejects bad flags %j as usage errors (exit 2)', async (flags, message) => {
    const r = await runCli(['trace', 'hi', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('says what is missing when the model directory does not exist (exit 1)', async () => {
    const r = await runCli(['trace', 'hi', '--model-path', '/nonexistent/model']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/model does not exist/);
    expect(r.stderr).toMatch(/--model-path/);
  });
});
