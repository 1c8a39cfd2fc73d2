import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/lib/errors.js';
import { TextTokenizer } from '../../src/lib/engine/tokenizer/tokenizer.js';
import { TokenizerPool } from '../../src/lib/engine/tokenizer/tokenizer_pool.js';
import { DEFAULT_MODEL_DIR, loadModelSpec } from '../../src/lib/engine/model_dir.js';
import { modelWithTemplate } from '../helpers/models.js';

describe('tokenizer processes', () => {
  it('give the same ids as the tokenizer in-process, for prompts and chat', async () => {
    const local = new TextTokenizer(loadModelSpec(DEFAULT_MODEL_DIR));
    const pool = await TokenizerPool.start(DEFAULT_MODEL_DIR, 2, 5000);
    try {
      const messages = [{ role: 'user', content: 'Hi there' }];
      expect(await pool.encode('Hello, my name is')).toEqual(local.encode('Hello, my name is'));
      expect(await pool.applyChatTemplate(messages)).toEqual(local.applyChatTemplate(messages));
    } finally {
      pool.close();
    }
  });

  it('a template that allocates without bound kills only its process: the request fails, the next one is served', async () => {
    const pool = await TokenizerPool.start(modelWithTemplate('{% for i in range(200000000) %}x{% endfor %}'), 1, 60_000);
    try {
      const err = await pool.applyChatTemplate([{ role: 'user', content: 'x' }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ code: 'tokenizer_failed', param: 'messages' });
      expect((err as Error).message).toMatch(/The tokenizer process died while tokenizing this request \(.*(heap|size).*\)/i);
      expect(await pool.encode('Hello')).toHaveLength(1);
    } finally {
      pool.close();
    }
  }, 60_000);

  it('a process that cannot start again fails the requests waiting for it instead of restarting in a loop', async () => {
    const dir = modelWithTemplate('{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}');
    const pool = await TokenizerPool.start(dir, 1, 300);
    try {
      rmSync(join(dir, 'tokenizer.json'));
      // Past its budget: the process is killed, and its replacement cannot load the tokenizer.
      await expect(pool.applyChatTemplate([{ role: 'user', content: 'x' }])).rejects.toMatchObject({ code: 'tokenize_timeout' });
      await expect(pool.encode('Hello')).rejects.toThrow(/The tokenizer process could not start/);
    } finally {
      pool.close();
    }
  });
});
