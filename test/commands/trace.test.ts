import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/lib/engine/engine.js';
import { MemoryExporter } from '../../src/lib/tracing/exporters/memory_exporter.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { runCli } from '../helpers/cli.js';
import { SHARED_MODEL, hasSharedModel } from '../helpers/models.js';

describe('sgl trace', () => {
  it('generates on the embedded model and prints tokens and timings', async () => {
    const r = await runCli(['trace', 'Hello, my name is', '--max-tokens', '6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sgl-llama-tiny \(cpu\)/);
    expect(r.stdout).toMatch(/tokens\s+\d+ prompt, 6 generated/);
    expect(r.stdout).toMatch(/time to first token\s+[\d.]+ ms/);
  });

  it('shows one TTFT per screen and per file: header, waterfall, trace file, summary and metrics agree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgl-ttft-'));
    const file = join(dir, 't.json');
    const j = await runCli(['trace', 'Hello, my name is', '--max-tokens', '6', '--trace-file', file, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const ttft = JSON.parse(j.stdout).requests[0].timings.ttftMs as number;
    const [w] = readTraceFile(file).workloads;
    expect(w.ttftMs).toBe(ttft);
    const summary = await runCli(['trace', 'summary', file, '--json']);
    expect(JSON.parse(summary.stdout).ttft_ms.mean).toBe(ttft);
    // On the text screen, the header and the waterfall print the same figure.
    const t = await runCli(['trace', 'Hello, my name is', '--max-tokens', '6']);
    const header = /time to first token\s+([\d.]+) ms/.exec(t.stdout)![1];
    const waterfall = /, ttft ([\d.]+) ms/.exec(t.stdout)![1];
    expect(waterfall).toBe(header);
    // The metrics take the same moment.
    const metrics = new Tracing({ level: 1, metrics: true, exporters: [] });
    const sink = new MemoryExporter();
    metrics.addExporter(sink);
    const engine = await Engine.create({ tracing: metrics });
    try {
      for await (const c of await engine.generate({ prompt: 'Hi', sampling: { maxTokens: 3 } })) void c;
      await metrics.flush();
    } finally {
      await engine.shutdown();
    }
    expect(metrics.metrics!.ttft.sum * 1000).toBeCloseTo(sink.requests[0].workload.ttftMs!, 6);
  });

  it('emits one JSON document with --json, the same tokens for the same seed', async () => {
    const args = ['trace', 'Once upon a time', '--max-tokens', '5', '--temperature', '0.9', '--seed', '3', '--json'];
    const [a, b] = [await runCli(args), await runCli(args)];
    expect(a.code, a.stderr).toBe(0);
    const ja = JSON.parse(a.stdout).requests[0];
    const jb = JSON.parse(b.stdout).requests[0];
    expect(JSON.parse(a.stdout).model).toBe('sgl-llama-tiny');
    expect(ja.tokenIds).toHaveLength(5);
    expect(ja.usage.completionTokens).toBe(5);
    expect(ja.finishReason).toBe('length');
    expect(ja.timings.ttftMs).toBeGreaterThan(0);
    expect(jb.tokenIds).toEqual(ja.tokenIds);
  });

  it.skipIf(!hasSharedModel)('runs the third-party model given by --model-path', async () => {
    const r = await runCli(['trace', 'Hello', '--model-path', SHARED_MODEL, '--max-tokens', '6', '--ignore-eos', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.model).toBe('tiny-random-llama-fp16');
    const out = doc.requests[0];
    expect(out.tokenIds).toHaveLength(6);
    expect(out.tokenIds.every((t: number) => t >= 0 && t < 32000)).toBe(true);
  });

  it.each([
    [['--max-tokens', '0'], /--max-tokens/],
    [['--temperature', '-1'], /--temperature/],
    [['--top-p', '1.5'], /--top-p/],
    [['--device', 'tpu'], /--device/],
  ])('rejects bad flags %j as usage errors (exit 2)', async (flags, message) => {
    const r = await runCli(['trace', 'hi', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('says what is missing when the model directory does not exist (exit 1)', async () => {
    const r = await runCli(['trace', 'hi', '--model-path', '/nonexistent/model']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/model does not exist/);
    expect(r.stderr).toMatch(/--model-path/);
  });
});

describe('sgl trace with tracing', () => {
  it('runs a prompts file concurrently, prints waterfalls and a stage table, writes the trace file', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readTraceFile } = await import('../../src/lib/tracing/trace_file/reader.js');
    const dir = mkdtempSync(join(tmpdir(), 'sgl-trace-cli-'));
    const prompts = join(dir, 'prompts.txt');
    writeFileSync(prompts, 'Hello, my name is\n\nThe weather today\nOnce upon a time\n');
    const file = join(dir, 'trace.json');
    const r = await runCli([
      'trace',
      '--prompts',
      prompts,
      '--max-tokens',
      '4',
      '--trace-level',
      '3',
      '--trace-module',
      'request,scheduler,engine',
      '--trace-file',
      file,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^request [0-9a-f]+ /gm)).toHaveLength(3);
    expect(r.stdout).toMatch(/decode_forward\s+worker\s+│/);
    expect(r.stdout).toMatch(/batch events\s+worker\s+│[ ▲]*▲/);
    expect(r.stdout).toMatch(/│ stage\s+│ module\s+│ thread/);
    const trace = readTraceFile(file);
    expect(trace.truncated).toBe(false);
    expect(trace.workloads).toHaveLength(3);
    expect(trace.header?.trace.modules).toEqual(['request', 'scheduler', 'engine']);
  });

  it('returns per-request stage timings with --json and prints nothing else', async () => {
    const r = await runCli(['trace', 'Hello', '--max-tokens', '3', '--trace-level', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.traceLevel).toBe(1);
    expect(Object.keys(out.requests[0].stages).sort()).toEqual(['decode_loop', 'prefill_forward', 'queue_wait', 'tokenize']);
    expect(out.stages.map((s: { stage: string }) => s.stage)).toContain('prefill_forward');
  });

  it.each([
    [['--trace-module', 'request,gpu'], /Unknown trace module gpu; known modules: request, scheduler, engine/],
    [['--trace-level', '4'], /--trace-level/],
    [['--trace-sample-rate', '2'], /--trace-sample-rate/],
  ])('rejects bad tracing flags %j as usage errors (exit 2)', async (flags, message) => {
    const r = await runCli(['trace', 'hi', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('says where a trace file cannot be written (exit 1)', async () => {
    const r = await runCli(['trace', 'hi', '--trace-file', '/nonexistent/dir/t.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Cannot write the trace file \/nonexistent\/dir\/t.json/);
  });
});
