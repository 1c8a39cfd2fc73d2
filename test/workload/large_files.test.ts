import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cdfFigure } from '../../src/lib/report/html_kit.js';
import { burstGptWorkload } from '../../src/lib/workload/csv_traces.js';
import { capturedWorkload, mooncakeWorkload, shareGptWorkload } from '../../src/lib/workload/dataset_files.js';
import { capture } from '../helpers/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-large-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('inputs of any size', () => {
  it('reads a 200,000-row BurstGPT file whole (no spreads over its rows), and draws its CDF', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => `${i * 0.01},m,${(i % 500) + 1},${(i % 50) + 1}`);
    const path = file('burst.csv', `Timestamp,Model,Request tokens,Response tokens\n${rows.join('\n')}\n`);
    const w = burstGptWorkload(path, Infinity);
    expect(w.requests).toHaveLength(200_000);
    expect(w.requests[199_999].arrivalMs).toBeCloseTo(1_999_990, 3);
    const svg = cdfFigure('E2E', [{ name: 'all', values: w.requests.map((r) => r.inputTokens) }]);
    // The curve is drawn from a few hundred quantiles, not 200,000 points.
    expect(svg.match(/points="([^"]*)"/)![1].split(' ').length).toBeLessThan(1000);
  });

  it('stops reading at the limit: rows past it are never parsed (a damaged tail does not matter)', () => {
    const good = Array.from({ length: 50 }, (_, i) => `{"timestamp": ${i}, "input_length": 5, "output_length": 5}`);
    expect(mooncakeWorkload(file('m.jsonl', `${good.join('\n')}\n{"timestamp": oops\n`), 10).requests).toHaveLength(10);
    expect(() => mooncakeWorkload(join(dir, 'm.jsonl'), 100)).toThrow(/m\.jsonl:51: expected one JSON object per line/);
    const csv = `Timestamp,Model,Request tokens,Response tokens\n${Array.from({ length: 50 }, (_, i) => `${i},m,5,5`).join('\n')}\n1,m,x,5\n`;
    expect(burstGptWorkload(file('b.csv', csv), 10).requests).toHaveLength(10);
    expect(() => burstGptWorkload(join(dir, 'b.csv'), 100)).toThrow(/b\.csv:52: expected "Request tokens"/);
  });

  it('takes a --time-window of arrivals before the limit', () => {
    const rows = Array.from({ length: 100 }, (_, i) => `{"timestamp": ${1000 + i * 100}, "input_length": 5, "output_length": 5}`).join('\n');
    const w = mooncakeWorkload(file('w.jsonl', rows), { count: 3, window: [2000, 5000] });
    expect(w.requests.map((r) => r.arrivalMs)).toEqual([2000, 2100, 2200]);
  });

  it('parses a ShareGPT array as it streams, and stops once it has enough conversations', () => {
    const conv = (i: number): string =>
      JSON.stringify({
        conversations: [
          { from: 'human', value: `question ${i}` },
          { from: 'gpt', value: 'an answer' },
        ],
      });
    const path = file('sharegpt.json', `[${Array.from({ length: 20 }, (_, i) => conv(i)).join(',')}, {"conversations": [ BROKEN`);
    const encode = (t: string): number[] => t.split(' ').map((_, i) => i + 5);
    expect(shareGptWorkload(path, encode, 5).requests.map((r) => r.prompt)).toEqual([0, 1, 2, 3, 4].map((i) => `question ${i}`));
    expect(() => shareGptWorkload(path, encode, 50)).toThrow(/sharegpt\.json: expected a JSON array of \{"conversations"/);
  });

  it('takes the earliest arrivals of a capture in one pass, and its header with them', () => {
    const c = capturedWorkload(file('t.json', capture()), 1);
    expect(c.workload.requests.map((r) => r.id)).toEqual(['a']);
    expect(c.records.map((r) => r.rid)).toEqual(['a']);
    expect(c.header?.model.id).toBe('m');
    expect(c.truncated).toBe(false);
  });
});
