import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/stats/rng.js';
import { arrivalOffsets } from '../../src/lib/workload/arrivals.js';
import { mooncakeWorkload, shareGptWorkload } from '../../src/lib/workload/dataset_files.js';
import { randomWorkload } from '../../src/lib/workload/random_workload.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-workload-'));

function gaps(offsets: number[]): number[] {
  return offsets.slice(1).map((t, i) => t - offsets[i]);
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const cv = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2))) / mean(xs);

describe('arrival processes', () => {
  it('Poisson at the asked rate: mean gap 1/rate, coefficient of variation 1', () => {
    const g = gaps(arrivalOffsets(new Rng(42), 20000, 50, 1));
    expect(mean(g)).toBeGreaterThan(19);
    expect(mean(g)).toBeLessThan(21);
    expect(cv(g)).toBeGreaterThan(0.95);
    expect(cv(g)).toBeLessThan(1.05);
  });

  it('gamma burstiness keeps the rate and changes the dispersion (cv = 1/sqrt(shape))', () => {
    for (const shape of [0.25, 4]) {
      const g = gaps(arrivalOffsets(new Rng(7), 20000, 10, shape));
      expect(mean(g)).toBeGreaterThan(95);
      expect(mean(g)).toBeLessThan(105);
      expect(cv(g)).toBeGreaterThan(0.9 / Math.sqrt(shape));
      expect(cv(g)).toBeLessThan(1.1 / Math.sqrt(shape));
    }
  });

  it('an infinite rate sends everything at once; a seed repeats the same arrivals', () => {
    expect(arrivalOffsets(new Rng(1), 5, Infinity, 1)).toEqual([0, 0, 0, 0, 0]);
    expect(arrivalOffsets(new Rng(3), 50, 5, 1)).toEqual(arrivalOffsets(new Rng(3), 50, 5, 1));
  });
});

describe('workloads', () => {
  it('random: lengths within [len × ratio, len], no excluded ids, the same for the same seed', () => {
    const w = randomWorkload({ count: 200, inputLen: 100, outputLen: 40, rangeRatio: 0.5, seed: 9, vocabSize: 1000, exclude: [0, 1] });
    for (const r of w.requests) {
      expect(r.inputTokens).toBeGreaterThanOrEqual(50);
      expect(r.inputTokens).toBeLessThanOrEqual(100);
      expect(r.outputTokens).toBeGreaterThanOrEqual(20);
      expect(r.outputTokens).toBeLessThanOrEqual(40);
      expect(r.inputIds).toHaveLength(r.inputTokens);
      expect(r.inputIds!.every((t) => t > 1 && t < 1000)).toBe(true);
    }
    expect(randomWorkload({ count: 5, inputLen: 10, outputLen: 4, rangeRatio: 0, seed: 9, vocabSize: 1000 })).toEqual(
      randomWorkload({ count: 5, inputLen: 10, outputLen: 4, rangeRatio: 0, seed: 9, vocabSize: 1000 }),
    );
  });

  it('ShareGPT: first human turn is the prompt, the reply sets the output length', () => {
    const path = join(dir, 'sharegpt.json');
    writeFileSync(
      path,
      JSON.stringify([
        {
          conversations: [
            { from: 'human', value: 'a b c' },
            { from: 'gpt', value: 'x y' },
          ],
        },
        { conversations: [{ from: 'human', value: 'lonely' }] },
        {
          conversations: [
            { from: 'human', value: 'd e' },
            { from: 'gpt', value: 'z z z z' },
          ],
        },
      ]),
    );
    const encode = (t: string): number[] => t.split(' ').map((_, i) => i + 5);
    const w = shareGptWorkload(path, encode, 10);
    expect(w.requests.map((r) => [r.prompt, r.inputTokens, r.outputTokens])).toEqual([
      ['a b c', 3, 2],
      ['d e', 2, 4],
    ]);
    writeFileSync(path, '[{"conversations": "nope"}]');
    expect(() => shareGptWorkload(path, encode, 10)).toThrow(/sharegpt.json:\[0\]: expected an object with a "conversations" array/);
  });

  it('Mooncake JSONL: lengths and arrivals relative to the first; bad lines named', () => {
    const path = join(dir, 'mooncake.jsonl');
    writeFileSync(path, '{"timestamp": 1000, "input_length": 12, "output_length": 3}\n{"timestamp": 1250, "input_length": 7, "output_length": 9}\n');
    const w = mooncakeWorkload(path, 10);
    expect(w.requests.map((r) => [r.arrivalMs, r.inputTokens, r.outputTokens])).toEqual([
      [0, 12, 3],
      [250, 7, 9],
    ]);
    writeFileSync(path, '{"timestamp": 1000, "input_length": 12, "output_length": 3}\n{"timestamp": 5, "input_length": "x"}\n');
    expect(() => mooncakeWorkload(path, 10)).toThrow(/mooncake.jsonl:2: expected "input_length" to be an integer from 0 to \d+, got "x"/);
    writeFileSync(path, 'not json\n');
    expect(() => mooncakeWorkload(path, 10)).toThrow(/mooncake.jsonl:1: expected one JSON object per line/);
  });
});
