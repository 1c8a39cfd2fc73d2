import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { loadModelSpec } from '../../src/lib/engine/model_dir.js';
import { TextTokenizer } from '../../src/lib/engine/tokenizer/tokenizer.js';
import { InvalidRequestError, ModelError } from '../../src/lib/errors.js';
import { runCli } from '../helpers/cli.js';
import { collect } from '../helpers/collect.js';
import { modelWithTokenizer } from '../helpers/models.js';

const dirs: string[] = [];
const model = (transform: Parameters<typeof modelWithTokenizer>[0]): string => {
  const dir = modelWithTokenizer(transform);
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** tokenizer.json without the sections the format lets a file leave out. */
function withoutOptional(json: Record<string, unknown>): unknown {
  const rest = { ...json };
  for (const key of ['decoder', 'added_tokens', 'normalizer', 'post_processor']) delete rest[key];
  const model = { ...(json.model as Record<string, unknown>) };
  delete model.merges;
  return { ...rest, model };
}

describe('tokenizer files from other exports', () => {
  it('loads a tokenizer.json without decoder, merges, added tokens or post-processor, and runs on it', async () => {
    const dir = model(withoutOptional);
    const tok = new TextTokenizer(loadModelSpec(dir));
    const ids = tok.encode('Hi there');
    expect(ids.length).toBeGreaterThan(0);
    const engine = await Engine.create({ modelPath: dir });
    try {
      const out = await collect(engine, { prompt: 'Hi there', sampling: { maxTokens: 3, temperature: 0, ignoreEos: true } });
      expect(out.tokens).toHaveLength(3);
    } finally {
      await engine.shutdown();
    }
  });

  it('says which file is unusable, why, and how to run the model anyway', () => {
    const dir = model((json) => ({ ...json, model: undefined }));
    const load = (): TextTokenizer => new TextTokenizer(loadModelSpec(dir));
    expect(load).toThrow(ModelError);
    expect(load).toThrow(/tokenizer\.json cannot be used: it has no "model" section \(the vocabulary\)\..*--skip-tokenizer-init/);
    const none = model(null);
    expect(() => new TextTokenizer(loadModelSpec(none))).toThrow(/has no tokenizer\.json\..*--skip-tokenizer-init/);
  });

  it('runs a model without tokenizer files from token ids (--skip-tokenizer-init), refusing text with a reason', async () => {
    const dir = model(null);
    await expect(Engine.create({ modelPath: dir })).rejects.toThrow(/has no tokenizer\.json/);
    const engine = await Engine.create({ modelPath: dir, skipTokenizerInit: true });
    const reference = await Engine.create();
    try {
      const req = { inputIds: [15496, 11, 616, 1438, 318], sampling: { maxTokens: 4, temperature: 0, ignoreEos: true } };
      const out = await collect(engine, req);
      expect(out.tokens).toEqual((await collect(reference, req)).tokens);
      expect(out.text).toBe('');
      await expect(engine.generate({ prompt: 'Hello' })).rejects.toThrow(InvalidRequestError);
      await expect(engine.generate({ prompt: 'Hello' })).rejects.toThrow(/without a tokenizer.*send token ids instead/);
      await expect(engine.generate({ messages: [{ role: 'user', content: 'Hi' }] })).rejects.toThrow(/cannot render chat messages/);
      await expect(engine.generate({ inputIds: [1, 2], sampling: { stop: ['x'] } })).rejects.toThrow(/Stop strings need text.*stop_token_ids/);
    } finally {
      await engine.shutdown();
      await reference.shutdown();
    }
    const cli = await runCli(['trace', '--input-ids', '15496,11,616', '--model-path', dir, '--skip-tokenizer-init', '--max-tokens', '3', '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).requests[0].tokenIds).toHaveLength(3);
  });
});
