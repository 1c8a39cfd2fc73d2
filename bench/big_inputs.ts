/**
 * Inputs of any size: writes a synthetic level-3 capture of at least 2 GB
 * (with sgl's trace file writer), a 1,000,000-row BurstGPT CSV and a
 * ShareGPT file of at least 600 MB, then reads each as the tools do, each
 * reader in a process of its own, and prints its time and peak RSS:
 *
 *   - `sgl trace summary` on the capture (target: peak RSS under 500 MB);
 *   - the capture's workload for `sgl replay --limit 100` (one pass to the end: records come in finishing order);
 *   - the CSV's first 100 rows, as `sgl replay --limit 100` reads them (target: under 1 s);
 *   - the ShareGPT file's first 10 conversations, as `sgl bench --num-prompts 10` reads them.
 *
 *   npm run build && npx tsx bench/big_inputs.ts [DIR]
 *
 * DIR defaults to $TMPDIR/sgl-big-inputs; the files (about 3.5 GB) are kept and reused.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeSyntheticCapture } from './synthetic_capture.js';
import type * as DatasetFiles from '../src/lib/workload/dataset_files.js';
import type * as CsvTraces from '../src/lib/workload/csv_traces.js';
import type * as ModelDir from '../src/lib/engine/model_dir.js';
import type * as Tokenizer from '../src/lib/engine/tokenizer/tokenizer.js';

const ROOT = resolve(import.meta.dirname, '..');
const GB = 1e9;

/** Child mode: one reader, from the built CLI's modules (dist/, what users run), timed inside its own process. */
async function child(kind: string, path: string): Promise<void> {
  const dist = (module: string): Promise<Record<string, (...args: never[]) => unknown>> => import(pathToFileURL(join(ROOT, 'dist/lib', module)).href);
  const files = (await dist('workload/dataset_files.js')) as unknown as typeof DatasetFiles;
  const t0 = performance.now();
  let what: string;
  if (kind === 'csv') {
    const csv = (await dist('workload/csv_traces.js')) as unknown as typeof CsvTraces;
    what = `${csv.burstGptWorkload(path, 100).requests.length} requests`;
  } else if (kind === 'sharegpt') {
    const { loadModelSpec } = (await dist('engine/model_dir.js')) as unknown as typeof ModelDir;
    const { TextTokenizer } = (await dist('engine/tokenizer/tokenizer.js')) as unknown as typeof Tokenizer;
    const tok = new TextTokenizer(loadModelSpec(undefined));
    what = `${files.shareGptWorkload(path, (t) => tok.encode(t, false), 10).requests.length} requests`;
  } else {
    what = `${files.capturedWorkload(path, 100).records.length} records`;
  }
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, rssMb: process.resourceUsage().maxRSS / 1024, what }));
}

async function writeLines(path: string, count: number, line: (i: number) => string, header = ''): Promise<void> {
  const out = createWriteStream(path);
  if (header) out.write(header);
  for (let i = 0; i < count; i++) if (!out.write(line(i))) await once(out, 'drain');
  await new Promise<void>((done) => out.end(() => done()));
}

const size = (path: string): string => `${(statSync(path).size / GB).toFixed(2)} GB`;

async function main(): Promise<void> {
  const dir = resolve(process.argv[2] ?? join(tmpdir(), 'sgl-big-inputs'));
  mkdirSync(dir, { recursive: true });
  const capture = join(dir, 'capture.json');
  const csv = join(dir, 'burstgpt.csv');
  const sharegpt = join(dir, 'sharegpt.json');

  if (!existsSync(capture) || statSync(capture).size < 2 * GB) {
    const synthetic = { requests: 0, tokens: 20, concurrency: 16 };
    const sample = join(dir, 'sample.json');
    await writeSyntheticCapture(sample, { ...synthetic, requests: 200 });
    synthetic.requests = Math.ceil((2.05 * GB) / (statSync(sample).size / 200));
    const t0 = performance.now();
    await writeSyntheticCapture(capture, synthetic);
    console.log(`wrote ${capture}: ${synthetic.requests} requests, ${size(capture)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (!existsSync(csv))
    await writeLines(
      csv,
      1_000_000,
      (i) => `${(i * 0.05).toFixed(3)},ChatGPT,${((i * 7919) % 2000) + 1},${((i * 104729) % 500) + 1},1,Conversation log\n`,
      'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n',
    );
  if (!existsSync(sharegpt) || statSync(sharegpt).size < 0.6 * GB) {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(44);
    await writeLines(
      sharegpt,
      310_000,
      (i) =>
        `${i ? ',' : ''}{"id":"c${i}","conversations":[{"from":"human","value":"Question ${i}: ${text}"},{"from":"gpt","value":"Answer ${i}: ${text}"}]}\n`,
      '[',
    );
    const out = createWriteStream(sharegpt, { flags: 'a' });
    await new Promise<void>((done) => out.end(']\n', () => done()));
  }
  console.log(`inputs: capture ${size(capture)}, CSV 1,000,000 rows (${size(csv)}), ShareGPT ${size(sharegpt)}\n`);

  // The CLI's own process: /usr/bin/time gives its peak RSS (kB) and wall time.
  const run = (args: string[]): { stdout: string; rssMb: number; s: number } => {
    const r = execFileSync('/bin/sh', ['-c', `/usr/bin/time -f '%M %e' "$@" 2>&1 >/dev/null | tail -1`, 'sh', ...args], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const [kb, s] = r.trim().split(' ').map(Number);
    return { stdout: r, rssMb: kb / 1024, s };
  };
  const summary = run([process.execPath, join(ROOT, 'bin/run.js'), 'trace', 'summary', capture]);
  console.log(`sgl trace summary (${size(capture)} capture): ${summary.s.toFixed(1)} s, peak RSS ${summary.rssMb.toFixed(0)} MB (target < 500 MB)`);
  const tsx = join(ROOT, 'node_modules/.bin/tsx');
  for (const [kind, path, label, target] of [
    ['capture', capture, `replay's workload of the ${size(capture)} capture, --limit 100`, ''],
    ['csv', csv, 'replay --limit 100 of the 1,000,000-row CSV (reading)', ' (target < 1 s)'],
    ['sharegpt', sharegpt, `bench --num-prompts 10 of the ${size(sharegpt)} ShareGPT file (reading, tokenizing)`, ''],
  ] as const) {
    const r = JSON.parse(execFileSync(tsx, [join(ROOT, 'bench/big_inputs.ts'), '--child', kind, path], { encoding: 'utf8' })) as {
      ms: number;
      rssMb: number;
      what: string;
    };
    console.log(`${label}: ${r.what} in ${(r.ms / 1000).toFixed(2)} s${target}, peak RSS ${r.rssMb.toFixed(0)} MB`);
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4]);
else await main();
