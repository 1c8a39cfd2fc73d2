import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../src/lib/engine/model_dir.js';
import { runCli } from '../helpers/cli.js';

describe("the anchors' flag names (SGLang's and vLLM's)", () => {
  it('runs bench with --dataset-name and --num-warmups, and trace with --model', async () => {
    const bench = await runCli([
      'bench',
      '--dataset-name',
      'random',
      '--num-prompts',
      '2',
      '--random-input-len',
      '8',
      '--random-output-len',
      '3',
      '--num-warmups',
      '0',
      '--json',
    ]);
    expect(bench.code).toBe(0);
    const result = JSON.parse(bench.stdout) as { workload: string; metrics: { completed: number; warmup: number } };
    expect(result.workload).toMatch(/^random/);
    expect(result.metrics.completed).toBe(2);
    expect(result.metrics.warmup).toBe(0);
    const trace = await runCli(['trace', '--model', DEFAULT_MODEL_DIR, 'Hello', '--max-tokens', '2', '--json']);
    expect(trace.code).toBe(0);
    expect((JSON.parse(trace.stdout) as { model: string }).model).toBe('sgl-llama-tiny');
  });

  it("names them in help, and takes vLLM's endpoint paths", async () => {
    const help = await runCli(['bench', '--help']);
    // Help wraps at the terminal's width.
    const flat = (text: string): string => text.replace(/\s+/g, ' ');
    for (const alias of ['--dataset-name', '--base-url', '--num-warmups', '--warmup-requests', '--max-num-seqs', '--model (vLLM)'])
      expect(flat(help.stdout)).toContain(alias);
    const serve = await runCli(['serve', '--help']);
    expect(flat(serve.stdout)).toContain('--disable-radix-cache (SGLang)');
    const bad = await runCli(['bench', '--endpoint', '/v1/embeddings']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--endpoint takes completions or chat \(or \/v1\/completions, \/v1\/chat\/completions\)/);
  });
});
