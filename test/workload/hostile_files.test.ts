import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { burstGptWorkload } from '../../src/lib/workload/csv_traces.js';
import { mooncakeWorkload } from '../../src/lib/workload/dataset_files.js';
import { readPromptFile } from '../../src/lib/workload/prompt_file.js';
import { capture } from '../helpers/capture.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-hostile-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The hand-written capture with one line changed: `edit` gets each line and returns its replacement. */
function doctored(name: string, edit: (line: string) => string): string {
  return file(name, capture().split('\n').map(edit).join('\n'));
}

describe('numbers in workload files are bounded, with file, line and field', () => {
  it.each([
    [
      'an input length that would exhaust memory',
      '{"timestamp": 0, "input_length": 1000000000, "output_length": 5}',
      /:1: expected "input_length" to be an integer from 0 to 1048576, got 1000000000/,
    ],
    ['a fractional output length', '{"timestamp": 0, "input_length": 5, "output_length": 2.5}', /:1: expected "output_length" to be an integer/],
    [
      'a timestamp beyond any timer',
      '{"timestamp": 0, "input_length": 5, "output_length": 5}\n{"timestamp": 1e300, "input_length": 5, "output_length": 5}',
      /:2: expected "timestamp" to be a number from 0 to \d+, got 1e\+300/,
    ],
    [
      'arrivals more than a year apart',
      '{"timestamp": 0, "input_length": 5, "output_length": 5}\n{"timestamp": 4e10, "input_length": 5, "output_length": 5}',
      /:2: expected "timestamp" within a year/,
    ],
    ['a line that is not an object', '[1, 2]', /:1: expected one JSON object per line/],
  ])('Mooncake: %s', (_label, text, message) => {
    expect(() => mooncakeWorkload(file('m.jsonl', text), 100)).toThrow(message);
  });

  it('BurstGPT: an absurd token count names the column and the line', () => {
    const path = file('b.csv', 'Timestamp,Model,Request tokens,Response tokens\n0,x,10,5\n1,x,1e12,5\n');
    expect(() => burstGptWorkload(path, 100)).toThrow(/b\.csv:3: expected "Request tokens" to be an integer from 0 to 1048576, got 1000000000000/);
  });

  it.each([
    [
      'a negative duration',
      (l: string) => l.replace(/"name":"tokenize"(.*)"dur":\d+/, '"name":"tokenize"$1"dur":-5'),
      /:4: expected "dur" to be a number from 0 to \d+, got -5/,
    ],
    [
      'a duration of 1e308',
      (l: string) => l.replace(/"name":"decode_loop"(.*)"dur":\d+/, '"name":"decode_loop"$1"dur":1e308'),
      /:6: expected "dur" .* got 1e\+308/,
    ],
    ['an e2e time of 1e308', (l: string) => l.replace(/"e2eMs":[\d.]+/, '"e2eMs":1e308'), /:8: expected "e2eMs" .* got 1e\+308/],
    ['a billion output tokens', (l: string) => l.replace(/"outputTokens":\d+/, '"outputTokens":1000000000'), /:8: expected "outputTokens" to be an integer/],
    [
      'a stage time that is not a number',
      (l: string) => l.replace(/"stages":\{"tokenize":[\d.]+/, '"stages":{"tokenize":"fast"'),
      /:8: expected "stages.tokenize"/,
    ],
    [
      'args: null',
      (l: string) => l.replace(/"name":"tokenize"(.*)"args":\{"rid":"a"\}/, '"name":"tokenize"$1"args":null'),
      /:4: expected "args" to be an object/,
    ],
    [
      'a workload record without args',
      (l: string) => (l.includes('sgl.workload') ? l.replace(/,"args":.*\}$/, '}') : l),
      /:8: expected "args" on the sgl.workload event/,
    ],
  ])('trace file: %s', (_label, edit, message) => {
    expect(() => readTraceFile(doctored('t.json', edit))).toThrow(message);
  });
});

describe('files that are not regular files', () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);

  it('a FIFO or a directory is refused at once, not read forever', () => {
    expect(() => readTraceFile(fifo)).toThrow(/Cannot read the trace file .*fifo: it is a named pipe \(FIFO\), not a regular file/);
    expect(() => mooncakeWorkload(fifo, 10)).toThrow(/fifo: cannot read it \(it is a named pipe \(FIFO\), not a regular file\)/);
    expect(() => readPromptFile(fifo)).toThrow(/it is a named pipe/);
    expect(() => readTraceFile(dir)).toThrow(/it is a directory, not a regular file/);
  });
});

describe('the commands on hostile files', () => {
  it('a capture with no finished request is an error in summary, show and diff, not NaN', async () => {
    const empty = doctored('empty.json', (l) => (l.includes('"rid"') ? '' : l));
    for (const args of [
      ['trace', 'summary', empty],
      ['trace', 'show', empty],
      ['trace', 'diff', empty, empty],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/holds no finished requests/);
      expect(r.stdout).not.toMatch(/NaN/);
    }
  });

  it('replay --simulate and trace convert refuse absurd numbers instead of hanging or throwing', async () => {
    const huge = doctored('huge.json', (l) => l.replace(/"name":"decode_loop"(.*)"dur":\d+/, '"name":"decode_loop"$1"dur":1e308'));
    for (const args of [
      ['replay', '--simulate', huge],
      ['trace', 'convert', huge, '--to', 'otlp-json', '-o', join(dir, 'x.json')],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/huge\.json:6: expected "dur"/);
    }
  });
});
