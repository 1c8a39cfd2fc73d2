import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';
import { OtlpReceiver } from '../helpers/otlp_receiver.js';
import { startOpenAiStub } from '../helpers/openai_stub.js';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-bench-cli-'));
const WORKLOAD = [
  '--num-prompts',
  '8',
  '--random-input-len',
  '16',
  '--random-output-len',
  '6',
  '--random-range-ratio',
  '1',
  '--max-concurrency',
  '4',
  '--warmup',
  '1',
  '--seed',
  '5',
];

describe('sgl bench', () => {
  it('runs against the in-process engine and against sgl serve with consistent JSON', async () => {
    const local = await runCli(['bench', ...WORKLOAD, '--json']);
    expect(local.code, local.stderr).toBe(0);
    const a = JSON.parse(local.stdout);
    const s = await startServer();
    try {
      const output = join(dir, 'remote.json');
      // Token ids, so the server prefills exactly the workload's tokens (as text, its tokenizer adds a BOS to each).
      const remote = await runCli(['bench', ...WORKLOAD, '--url', s.url, '--tokenize-prompt', '--server-timing', '--json', '--output', output]);
      expect(remote.code, remote.stderr).toBe(0);
      const b = JSON.parse(remote.stdout);
      for (const m of [a.metrics, b.metrics]) {
        expect(m.completed).toBe(8);
        expect(m.failed).toBe(0);
        expect(m.total_input_tokens).toBe(8 * 16);
        expect(m.total_output_tokens).toBe(8 * 6);
        expect(m.peak_concurrency).toBeLessThanOrEqual(4);
        for (const k of ['ttft_ms', 'tpot_ms', 'itl_ms', 'e2e_latency_ms']) expect(m[k].mean).toBeGreaterThan(0);
      }
      expect(a.metrics.mean_ttft_ms).toBe(a.metrics.ttft_ms.mean);
      // Against sgl serve with --server-timing: client TTFT less the server's own is the transport, per request.
      expect(a.metrics.transport_ms).toBeNull();
      expect(b.metrics.transport_ms.mean).toBeGreaterThan(0);
      expect(b.metrics.transport_ms.mean).toBeLessThan(b.metrics.ttft_ms.mean);
      expect(b.metrics.p99_e2e_latency_ms).toBe(b.metrics.e2e_latency_ms.p99);
      expect(a.target).toMatch(/in-process engine/);
      expect(b.target).toContain(s.url);
      expect(a.stages.map((x: { stage: string }) => x.stage)).toContain('decode_loop');
      expect(JSON.parse(readFileSync(output, 'utf8')).outcomes).toHaveLength(8);
    } finally {
      await s.stop();
    }
  });

  it('--compare-trace-levels gives one row per level, spans per request growing with the level', async () => {
    const html = join(dir, 'report.html');
    const r = await runCli([
      'bench',
      ...WORKLOAD,
      '--compare-trace-levels',
      '--repeats',
      '2',
      '--trace-module',
      'request,scheduler,engine',
      '--html',
      html,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { levels, comparison } = JSON.parse(r.stdout);
    expect(levels.map((l: { level: number }) => l.level)).toEqual([0, 1, 2, 3]);
    // A fixed --repeats without --target-ci runs exactly that many rounds; every level but the base gets a verdict per figure.
    expect(comparison).toMatchObject({ rounds: 2, target: null });
    expect(levels[0].verdicts).toBeNull();
    for (const l of levels.slice(1)) expect(Object.keys(l.verdicts)).toEqual(['throughput', 'ttft', 'tpot', 'e2e']);
    const spans = levels.map((l: { spansPerRequest: number }) => l.spansPerRequest);
    expect(spans[0]).toBe(0);
    for (let i = 1; i < 4; i++) expect(spans[i]).toBeGreaterThan(spans[i - 1]);
    expect(levels[0].throughputRatio.mean).toBe(1);
    for (const l of levels) expect(l.runs).toHaveLength(2);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('Output throughput per trace level');
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('says clearly when the server is unreachable or not OpenAI-compatible (exit 1)', async () => {
    const down = await runCli(['bench', '--url', 'http://127.0.0.1:9', '--num-prompts', '1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/Cannot reach http:\/\/127\.0\.0\.1:9/);
    const other = createServer((_, res) => res.writeHead(404).end('nothing here'));
    await new Promise<void>((done) => other.listen(0, '127.0.0.1', done));
    try {
      const r = await runCli(['bench', '--url', `http://127.0.0.1:${(other.address() as AddressInfo).port}`, '--num-prompts', '1']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/does not look OpenAI-compatible/);
    } finally {
      other.close();
    }
  });

  it('names the file and line of a malformed dataset (exit 1) and rejects bad flags (exit 2)', async () => {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, '{"timestamp": 0, "input_length": 4, "output_length": 2}\n{oops\n');
    const r = await runCli(['bench', '--dataset', 'mooncake', '--dataset-path', path, '--num-prompts', '5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path}:2: expected one JSON object per line`);
    expect((await runCli(['bench', '--request-rate', '-3'])).code).toBe(2);
    expect((await runCli(['bench', '--slo', 'ttft=abc'])).code).toBe(2);
    expect((await runCli(['bench', '--levels', '0,5'])).code).toBe(2);
    const stray = await runCli(['bench', '--target-ci', '2']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/must be provided when using --target-ci[\s\S]*--compare-trace-levels/);
    expect((await runCli(['bench', '--compare-trace-levels', '--target-ci', '0'])).code).toBe(2);
    // With --json, oclif reports even a usage error as JSON on stdout (and exits 1).
    const both = await runCli(['bench', '-o', '-', '--json']);
    expect(both.code).not.toBe(0);
    expect(both.stdout + both.stderr).toMatch(/--json and -o - would both write to stdout/);
  });

  it('honours --trace-sample-rate and --otlp-traces-endpoint as serve does; spans/request is what the collector gets', async () => {
    const sampledOut = join(dir, 'sampled-out.json');
    const none = await runCli(['bench', ...WORKLOAD, '--trace-sample-rate', '0', '--trace-file', sampledOut, '--json']);
    expect(none.code, none.stderr).toBe(0);
    expect(readTraceFile(sampledOut).workloads).toHaveLength(0);

    const receiver = await OtlpReceiver.start();
    try {
      const r = await runCli([
        'bench',
        ...WORKLOAD,
        '--compare-trace-levels',
        '--levels',
        '3',
        '--repeats',
        '1',
        '--trace-module',
        'scheduler,engine',
        '--otlp-traces-endpoint',
        receiver.url,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const row = JSON.parse(r.stdout).levels.find((l: { level: number }) => l.level === 3);
      expect(receiver.spans.length).toBeGreaterThan(0);
      expect(row.spansPerRequest * 8).toBeCloseTo(receiver.spans.length, 6);
    } finally {
      await receiver.stop();
    }
  });
});

describe('sgl bench when requests fail', () => {
  const FEW = [
    '--num-prompts',
    '9',
    '--random-input-len',
    '8',
    '--random-output-len',
    '3',
    '--random-range-ratio',
    '1',
    '--max-concurrency',
    '1',
    '--warmup',
    '0',
  ];

  it('groups failures by kind with counts (text and JSON) and exits 1 past --max-failures', async () => {
    // Every third request is too long (its length in the message), every third after it finds the server full.
    const stub = await startOpenAiStub((n) =>
      n % 3 === 0
        ? { status: 400, message: `prompt has ${2000 + n * 7} tokens; the context is 2048` }
        : n % 3 === 1
          ? { status: 503, message: `The server is full (${n} requests running or queued); retry shortly.` }
          : { tokens: 3 },
    );
    try {
      const output = join(dir, 'failures.json');
      const r = await runCli(['bench', ...FEW, '--url', stub.url, '--output', output]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/6 of 9 requests failed, more than --max-failures allows \(10%, 0\)/);
      const kinds = JSON.parse(readFileSync(output, 'utf8')).metrics.failures as { kind: string; count: number; example: string }[];
      expect(kinds.map((k) => [k.kind, k.count])).toEqual([
        ['HTTP 400: prompt has N tokens; the context is N', 3],
        ['HTTP 503: The server is full (N requests running or queued); retry shortly.', 3],
      ]);
      expect(kinds[0].example).toBe('HTTP 400: prompt has 2000 tokens; the context is 2048');
      // One row per kind in the text report, not one per message.
      expect(r.stdout.match(/prompt has N tokens/g)).toHaveLength(1);
      expect(r.stdout).toMatch(/Successful requests\s+│ 3/);
      // -o -: the data, every outcome included, on stdout and nothing else; the report on stderr.
      const tolerant = await runCli(['bench', ...FEW, '--url', stub.url, '--max-failures', '100%', '-o', '-']);
      expect(tolerant.code, tolerant.stderr).toBe(0);
      const data = JSON.parse(tolerant.stdout);
      expect(data.metrics.failed).toBe(6);
      expect(data.outcomes).toHaveLength(9);
      expect(tolerant.stderr).toMatch(/Successful requests\s+│ 3/);
    } finally {
      await stub.stop();
    }
  });

  it('exits 1 when every request failed, whatever --max-failures says', async () => {
    const stub = await startOpenAiStub(() => ({ status: 500, message: 'out of memory' }));
    try {
      const r = await runCli(['bench', ...FEW, '--url', stub.url, '--max-failures', '100%']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/All 9 requests failed/);
    } finally {
      await stub.stop();
    }
  });

  it('announces its warm-ups and marks them for the server: their own ids and a header', async () => {
    const stub = await startOpenAiStub(() => ({ tokens: 2 }));
    try {
      const r = await runCli(['bench', ...FEW.slice(0, -2), '--warmup', '2', '--url', stub.url]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Warm-up requests \(not measured\)\s+│ 2/);
      expect(stub.log).toHaveLength(11);
      const warm = stub.log.filter((e) => e.headers['x-sgl-warmup'] === '1');
      expect(warm.map((e) => e.headers['x-request-id'])).toEqual(['warmup-random-0', 'warmup-random-1']);
      expect(stub.log.slice(2).every((e) => e.headers['x-sgl-warmup'] === undefined && !String(e.headers['x-request-id']).startsWith('warmup-'))).toBe(true);
    } finally {
      await stub.stop();
    }
  });
});
