import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/lib/benchmark/run_bench.js';
import { percentile } from '../../src/lib/stats/distribution.js';
import { runReplay } from '../../src/lib/replay/run_replay.js';
import { beyondTolerance, compareTimings } from '../../src/lib/replay/fidelity.js';
import type { ReplayOptions } from '../../src/lib/replay/run_replay.js';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { azureWorkload, burstGptWorkload } from '../../src/lib/workload/csv_traces.js';
import { mooncakeWorkload } from '../../src/lib/workload/dataset_files.js';
import { WORKLOAD_FILES, detectFormat } from '../../src/lib/workload/formats.js';
import { DATASETS, loadWorkload } from '../../src/lib/workload/load_workload.js';
import { runCli } from '../helpers/cli.js';
import { startOpenAiStub } from '../helpers/openai_stub.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-replay-'));
const capture = join(dir, 'capture.json');

const replayOptions = (o: Partial<ReplayOptions>): ReplayOptions => ({
  file: capture,
  endpoint: 'completions',
  engine: {},
  speed: 1,
  limit: Infinity,
  timeWindow: null,
  tolerance: null,
  simulate: false,
  seed: 1,
  ...o,
});

describe('public workload formats', () => {
  it('detects and reads Mooncake, Azure and BurstGPT files; names the formats tried otherwise', () => {
    const moon = join(dir, 'm.jsonl');
    writeFileSync(
      moon,
      '{"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47]}\n{"timestamp": 30535, "input_length": 6472, "output_length": 26, "hash_ids": [46]}\n',
    );
    const azure = join(dir, 'a.csv');
    writeFileSync(azure, 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n');
    const burst = join(dir, 'b.csv');
    writeFileSync(
      burst,
      'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n45,ChatGPT,1087,250,1337,Conversation log\n',
    );
    expect([detectFormat(moon), detectFormat(azure), detectFormat(burst)]).toEqual(['mooncake', 'azure', 'burstgpt']);
    expect(mooncakeWorkload(moon, 10).requests.map((r) => [r.arrivalMs, r.inputTokens, r.outputTokens])).toEqual([
      [0, 6955, 52],
      [3053, 6472, 26],
    ]);
    const a = azureWorkload(azure, 10).requests;
    expect(a.map((r) => [r.inputTokens, r.outputTokens])).toEqual([
      [374, 44],
      [396, 109],
    ]);
    expect(a[1].arrivalMs).toBeCloseTo(4314.579, 3);
    expect(burstGptWorkload(burst, 10).requests.map((r) => [r.arrivalMs, r.inputTokens, r.outputTokens])).toEqual([
      [0, 472, 18],
      [40000, 1087, 250],
    ]);
    const other = join(dir, 'o.txt');
    writeFileSync(other, 'hello world\n');
    expect(() => detectFormat(other)).toThrow(/tried: ShareGPT JSON, sgl trace \(Chrome JSON\), Mooncake JSONL, Azure LLM inference CSV, BurstGPT CSV/);
  });
  it('reads every workload format from one registry: bench takes each as --dataset, replay detects each (ShareGPT too)', async () => {
    const share = join(dir, 's.json');
    const conv = (i: number): object => ({
      id: `c${i}`,
      conversations: [
        { from: 'human', value: `Tell me about the number ${i}.` },
        { from: 'gpt', value: 'It is a number.' },
      ],
    });
    writeFileSync(share, JSON.stringify([conv(1), conv(2), conv(3)], null, 2));
    expect(detectFormat(share)).toBe('sharegpt');
    const burst = join(dir, 'b2.csv');
    writeFileSync(
      burst,
      'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,20,3,23,Conversation log\n6,ChatGPT,30,2,32,Conversation log\n',
    );
    for (const dataset of DATASETS.filter((d) => d !== 'random' && d !== 'generated-shared-prefix' && d !== 'multi-turn'))
      expect(WORKLOAD_FILES[dataset]).toBeDefined();
    const tok = { vocabSize: 100, specialIds: [], encode: (t: string) => t.split(' ').map((_, i) => i + 1), decode: (ids: readonly number[]) => ids.join(' ') };
    const fromBench = loadWorkload({ dataset: 'burstgpt', path: burst, count: 10, seed: 1, inputLen: 1, outputLen: 1, rangeRatio: 1 }, tok);
    expect(fromBench.requests.map((r) => [r.inputTokens, r.outputTokens])).toEqual([
      [20, 3],
      [30, 2],
    ]);
    const replayed = await runReplay(replayOptions({ file: share, warmup: 0 }));
    expect(replayed.format).toBe('sharegpt');
    expect(replayed.requests).toBe(3);
    expect(replayed.failed).toBe(0);
    expect(replayed.warnings.join('\n')).toMatch(/has no arrival times: every request is sent at once/);
  });
});

describe('sgl replay', () => {
  beforeAll(async () => {
    await runBench({
      endpoint: 'completions',
      engine: {},
      tracing: { level: 2, modules: ['request'], sampleRate: 1, traceFile: capture, includeContent: true },
      workload: { dataset: 'random', count: 16, seed: 3, inputLen: 24, outputLen: 12, rangeRatio: 0.5 },
      driver: { requestRate: 40, burstiness: 1, maxConcurrency: Infinity, seed: 3, warmup: 2, replayArrivals: false },
      slo: null,
      compareLevels: null,
      repeats: 1,
      targetCi: null,
      budgetMs: 0,
    });
  });

  it('re-issues every request with its tokens, output length and arrival offset', async () => {
    const output = join(dir, 'replayed.json');
    const result = await runReplay(replayOptions({ output }));
    expect(result.requests).toBe(16);
    expect(result.warnings).toEqual([]);
    const before = readTraceFile(capture).workloads;
    const after = new Map(readTraceFile(output).workloads.map((w) => [w.rid, w]));
    expect(after.size).toBe(16);
    const first = (ws: { arrivalMs: number }[]): number => Math.min(...ws.map((w) => w.arrivalMs));
    const t0 = first(before);
    const t1 = first([...after.values()]);
    const lateness: number[] = [];
    for (const w of before) {
      const r = after.get(w.rid)!;
      expect(r.inputIds).toEqual(w.inputIds);
      expect(r.outputTokens).toBe(w.outputTokens);
      expect(r.sampling).toEqual(w.sampling);
      lateness.push(Math.abs(r.arrivalMs - t1 - (w.arrivalMs - t0)));
    }
    // Timers on a busy event loop fire late now and then; the typical request is on time to the millisecond.
    expect(
      percentile(
        lateness.sort((a, b) => a - b),
        50,
      ),
    ).toBeLessThan(1);
    expect(Math.max(...lateness)).toBeLessThan(50);
    expect(result.fidelity.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['queue_wait', 'prefill_forward', 'decode_loop', 'TTFT', 'TPOT', 'E2E']));
  });

  it('--tolerance fails a capture whose decode timings were doctored', async () => {
    const doctored = join(dir, 'doctored.json');
    const lines = readFileSync(capture, 'utf8')
      .split('\n')
      .map((line) => {
        if (!line.includes('"sgl.workload"')) return line;
        const ev = JSON.parse(line.replace(/^,/, ''));
        const w = ev.args;
        // A hundred times faster than it ran: on the tiny model a decode loop's p50 can move
        // several-fold between runs (new prompt shapes cost onnxruntime tens of ms), so a
        // halving or even a fifth is not reliably outside the noise.
        const cut = w.stages.decode_loop * 0.99;
        w.stages.decode_loop -= cut;
        w.e2eMs -= cut;
        return `${line.startsWith(',') ? ',' : ''}${JSON.stringify(ev)}`;
      });
    writeFileSync(doctored, lines.join('\n'));
    const r = await runCli(['replay', doctored, '--tolerance', '30%']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/decode_loop.*drifted beyond the tolerance of 30\.0%/);
  });

  it('--simulate fits the capture and predicts the same stages', async () => {
    const result = await runReplay(replayOptions({ simulate: true }));
    expect(result.mode).toBe('simulate');
    expect(result.fidelity.rows.map((r) => r.name)).toEqual(['queue_wait', 'prefill_forward', 'decode_loop', 'TTFT', 'TPOT', 'E2E']);
    for (const r of result.fidelity.rows) expect(r.replayed.count).toBe(16);
    expect(result.model!.decodeStep.perRequest + result.model!.decodeStep.intercept).toBeGreaterThan(0);
    // 16 requests are too few to trust: it says so, and every predicted figure carries its band.
    expect(result.warnings.join('\n')).toMatch(/fitted on 16 requests; with fewer than 50 the predictions are rough/);
    for (const r of result.fidelity.rows.filter((x) => ['prefill_forward', 'decode_loop', 'E2E'].includes(x.name))) {
      expect(r.band!.low.p50).toBeLessThanOrEqual(r.replayed.p50 + 1e-9);
      expect(r.band!.high.p50).toBeGreaterThanOrEqual(r.replayed.p50 - 1e-9);
    }
    const text = await runCli(['replay', capture, '--simulate']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/fitted on 16 requests/);
    expect(text.stdout).toMatch(/E2E .*\(\d+\.\d–\d+\.\d\)/);
  });

  it('writes its own trace next to the capture and an HTML report', async () => {
    const page = join(dir, 'replay.html');
    const r = await runCli(['replay', capture, '--limit', '4', '--html', page]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Replayed 4 requests/);
    expect(readTraceFile(capture.replace(/\.json$/, '.replay.json')).workloads).toHaveLength(4);
    const html = readFileSync(page, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('E2E latency CDF');
    expect(html).not.toContain('<script');
  });

  it('says how to proceed when the captured model directory is not on this machine', async () => {
    const moved = join(dir, 'moved.json');
    writeFileSync(moved, readFileSync(capture, 'utf8').replace(/"dir":"[^"]*"/, '"dir":"/elsewhere/model"'));
    await expect(runReplay(replayOptions({ file: moved }))).rejects.toThrow(/from \/elsewhere\/model, which is not on this machine; pass --model-path/);
  });

  it('says so when a trace holds no workload records', async () => {
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, '[\n{"name":"sgl.header","ph":"i","s":"g","pid":0,"tid":0,"ts":0,"args":{}}\n');
    await expect(runReplay(replayOptions({ file: empty }))).rejects.toThrow(/holds no workload records/);
  });
});

describe('sgl replay against a server', () => {
  it('sends exactly the workload to a server given with --url, and warm-ups only when asked, under their own ids', async () => {
    const stub = await startOpenAiStub((n) => (n % 4 === 3 ? { status: 400, message: 'prompt too long' } : { tokens: 2 }));
    const file = join(dir, 'five.jsonl');
    writeFileSync(file, [0, 10, 20, 30, 40].map((t, i) => JSON.stringify({ timestamp: t, input_length: 6 + i, output_length: 2 })).join('\n') + '\n');
    try {
      const plain = await runReplay(replayOptions({ file, urls: [stub.url] }));
      // Sent 10 ms apart on connections of their own, they may reach the server in another order on a busy machine.
      expect(stub.log.map((e) => e.headers['x-request-id']).sort()).toEqual(['mooncake-1', 'mooncake-2', 'mooncake-3', 'mooncake-4', 'mooncake-5']);
      expect(stub.log.some((e) => e.headers['x-sgl-warmup'] !== undefined)).toBe(false);
      // The request the server refused is one failure, the same number in both places.
      expect(plain.failed).toBe(1);
      expect(plain.metrics!.failed).toBe(plain.failed);
      expect(plain.metrics!.warmup).toBe(0);
      stub.log.length = 0;
      const warmed = await runReplay(replayOptions({ file, urls: [stub.url], warmup: 2 }));
      expect(warmed.metrics!.warmup).toBe(2);
      const seen = stub.log.map((e) => [e.headers['x-request-id'], e.headers['x-sgl-warmup'] ?? null]);
      // Warm-ups first, one at a time; then the workload, unmarked.
      expect(seen.slice(0, 2)).toEqual([
        ['warmup-mooncake-1', '1'],
        ['warmup-mooncake-2', '1'],
      ]);
      expect(seen.slice(2).sort()).toEqual([
        ['mooncake-1', null],
        ['mooncake-2', null],
        ['mooncake-3', null],
        ['mooncake-4', null],
        ['mooncake-5', null],
      ]);
    } finally {
      await stub.stop();
    }
  });
});

describe('the fidelity gate', () => {
  const timing = (id: string, tiny: number, big: number) => ({ id, ttftMs: null, tpotMs: null, e2eMs: big, stages: { tiny, big } });

  it('fails a stage only past the relative tolerance, the absolute floor, and its noise', () => {
    // 20 requests a side, each a little different; replayed +50% of 0.03 ms and +20% of 10 ms.
    const captured = Array.from({ length: 20 }, (_, i) => timing(`r${i}`, 0.03 + i * 1e-4, 10 + i * 0.01));
    const replayed = Array.from({ length: 20 }, (_, i) => timing(`r${i}`, 0.045 + i * 1e-4, 12 + i * 0.01));
    const report = compareTimings(captured, replayed);
    expect(
      beyondTolerance(report, 0.1)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['E2E', 'big']);
    expect(
      beyondTolerance(report, 0.1, 0)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['E2E', 'big', 'tiny']);
    expect(beyondTolerance(report, 0.1, 5)).toEqual([]);
  });

  it('does not fail on a p50 that moved within the noise of the samples', () => {
    // The same spread of values, the replayed middle a little higher: a 15% p50 drift the rank test cannot tell from noise.
    const values = [5, 6, 7, 8, 9, 10, 20, 30, 40, 50];
    const captured = values.map((v, i) => timing(`r${i}`, 1, v));
    const replayed = values.map((v, i) => timing(`r${i}`, 1, i === 4 ? 10.5 : i === 5 ? 11 : v));
    const report = compareTimings(captured, replayed);
    const big = report.rows.find((r) => r.name === 'big')!;
    expect(Math.abs(big.p50Drift)).toBeGreaterThan(0.1);
    expect(beyondTolerance(report, 0.1)).toEqual([]);
  });
});
