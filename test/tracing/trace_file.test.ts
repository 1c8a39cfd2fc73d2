import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { TraceFileWriter } from '../../src/lib/tracing/trace_file/writer.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import { Rng } from '../../src/lib/stats/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-trace-file-'));
const path = join(dir, 'trace.json');
const PROMPTS = ['Hello, my name is', 'The weather today', 'Once upon a time in a land far away', 'Hi', 'What is', 'Tell me'];

describe('the trace file', () => {
  beforeAll(async () => {
    const tracing = new Tracing({ level: 3, modules: ['request', 'scheduler', 'engine'], includeContent: true, exporters: [new TraceFileWriter(path)] });
    const engine = await Engine.create({ tracing, maxPrefillTokens: 8 });
    await Promise.all(
      PROMPTS.map(async (prompt, i) => {
        for await (const c of await engine.generate({ rid: `r${i}`, prompt, sampling: { maxTokens: 3 + i, temperature: 0, ignoreEos: true } })) void c;
      }),
    );
    await engine.shutdown();
    await tracing.shutdown();
  });

  it('is a Chrome Trace Event JSON array with a header and one workload record per request', () => {
    const events = JSON.parse(readFileSync(path, 'utf8')) as {
      name: string;
      ph: string;
      ts: number;
      dur?: number;
      pid: number;
      tid: number;
      args?: Record<string, unknown>;
    }[];
    expect(Array.isArray(events)).toBe(true);
    for (const e of events) {
      expect(['X', 'i', 'M']).toContain(e.ph);
      expect(typeof e.ts).toBe('number');
      expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
      if (e.ph === 'X') expect(e.dur).toBeGreaterThanOrEqual(0);
    }
    const header = events.find((e) => e.name === 'sgl.header')!.args!;
    expect(header).toMatchObject({
      tool: 'sgl',
      model: { id: 'sgl-llama-tiny' },
      device: 'cpu',
      trace: { level: 3, modules: ['request', 'scheduler', 'engine'] },
    });
    expect((header.model as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
    const workloads = events.filter((e) => e.name === 'sgl.workload').map((e) => e.args!);
    expect(workloads.map((w) => w.rid).sort()).toEqual(PROMPTS.map((_, i) => `r${i}`));
    const w2 = workloads.find((w) => w.rid === 'r2')!;
    expect(w2).toMatchObject({ outputTokens: 5, finishReason: 'length', prompt: PROMPTS[2], sampling: { maxTokens: 5, temperature: 0 } });
    expect((w2.inputIds as number[]).length).toBe(w2.inputTokens);
    expect(Object.keys(w2.stages as object)).toContain('decode_forward');
  });

  it('keeps slices on each track properly nested, so viewers drop none', () => {
    const { events } = readTraceFile(path);
    const tracks = new Map<string, { start: number; end: number }[]>();
    for (const e of events.filter((e) => e.ph === 'X')) {
      const key = `${e.pid}/${e.tid}`;
      if (!tracks.has(key)) tracks.set(key, []);
      // Integer nanoseconds, as Perfetto reads the decimal microseconds.
      const start = Math.round(e.ts * 1000);
      tracks.get(key)!.push({ start, end: start + Math.round(e.dur! * 1000) });
    }
    expect(tracks.size).toBeGreaterThan(1);
    for (const slices of tracks.values()) {
      slices.sort((a, b) => a.start - b.start || b.end - a.end);
      const open: number[] = [];
      for (const s of slices) {
        while (open.length && open[open.length - 1] <= s.start) open.pop();
        if (open.length) expect(s.end).toBeLessThanOrEqual(open[open.length - 1]);
        open.push(s.end);
      }
    }
  });

  it('loads every complete event when its tail is cut at an arbitrary byte', () => {
    const full = readFileSync(path);
    const whole = readTraceFile(path);
    const rng = new Rng(7);
    for (let k = 0; k < 25; k++) {
      const cut = 2 + Math.floor(rng.next() * (full.length - 2));
      const part = join(dir, `cut-${k}.json`);
      writeFileSync(part, full.subarray(0, cut));
      const text = full.subarray(0, cut).toString('utf8');
      const newlines = text.split('\n').length - 1;
      const tail = text.slice(text.lastIndexOf('\n') + 1);
      const read = readTraceFile(part);
      expect(read.truncated).toBe(true);
      // Every line that ended before the cut is an event (the first line is the bracket),
      // and so is a last line cut just before its newline.
      const expected = Math.max(0, newlines - 1) + (newlines > 0 && isJson(tail) ? 1 : 0);
      expect(read.events).toEqual(whole.events.slice(0, expected));
    }
  });

  it('names the file, the line and what was expected when a line in the middle is damaged', () => {
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[5] = ',{"name": "broken';
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, lines.join('\n'));
    expect(() => readTraceFile(bad)).toThrow(new RegExp(`${bad}:6: expected one trace event as a JSON object`));
    writeFileSync(bad, 'hello');
    expect(() => readTraceFile(bad)).toThrow(/bad.json:1: expected "\["/);
  });
});

function isJson(s: string): boolean {
  try {
    JSON.parse(s.replace(/^,/, ''));
    return true;
  } catch {
    return false;
  }
}

describe('reading a capture as a stream', () => {
  it('keeps two requests that share a client-given id apart', async () => {
    const { Capture } = await import('../../src/lib/tracing/trace_file/capture.js');
    const { capture, TRACE_A, TRACE_B } = await import('../helpers/capture.js');
    const same = join(dir, 'same-rid.json');
    writeFileSync(same, capture().replaceAll('"request b"', '"request a"').replaceAll('"rid":"b"', '"rid":"a"'));
    const requests = Array.from(new Capture(same, () => undefined).requests());
    expect(requests.map((r) => [r.rid, r.traceId, r.workload.e2eMs])).toEqual([
      ['a', TRACE_A, 10],
      ['a', TRACE_B, 30],
    ]);
  });
});
