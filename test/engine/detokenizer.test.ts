import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../../src/lib/engine/tokenizer/detokenizer.js';
import { loadModelSpec } from '../../src/lib/engine/model_dir.js';
import { TextTokenizer } from '../../src/lib/engine/tokenizer/tokenizer.js';
import { SHARED_MODEL, TINY_MODEL, hasSharedModel } from '../helpers/models.js';

const TEXT = 'Grüße, 世界! 😀👍🏽 naïve café — done.';

function streamed(tokenizer: TextTokenizer, ids: number[]): string[] {
  const detok = new IncrementalDetokenizer(tokenizer);
  const pieces = ids.map((id) => detok.push(id));
  pieces.push(detok.flush());
  return pieces;
}

describe.each([
  ['GPT-2 byte-level BPE (merges as "a b" strings)', TINY_MODEL, true],
  ['Llama BPE with byte fallback (merges as pairs)', SHARED_MODEL, hasSharedModel],
])('incremental detokenization, %s', (_, dir, available) => {
  it.runIf(available)('never splits a multi-byte character and adds up to the full decode', () => {
    const tokenizer = new TextTokenizer(loadModelSpec(dir));
    const ids = tokenizer.encode(TEXT, false);
    // Some characters span several tokens, so some steps must hold text back.
    expect(ids.length).toBeGreaterThan([...TEXT].length / 2);
    const pieces = streamed(tokenizer, ids);
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.join('')).toBe(tokenizer.decode(ids));
    expect(pieces.join('').trim()).toBe(TEXT);
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(0);
  });
});

describe('chat template', () => {
  it('renders messages with the model template and the generation prompt', () => {
    const tokenizer = new TextTokenizer(loadModelSpec(TINY_MODEL));
    const ids = tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi there' }]);
    expect(tokenizer.decode(ids)).toBe('<|user|>\nHi there\n<|assistant|>\n');
    // eos_token is written by the template and encoded as the special token.
    expect(ids).toContain(50256);
  });
});
