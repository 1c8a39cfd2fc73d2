import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { TRACE_A, TRACE_B, capture } from '../helpers/capture.js';
import { OtlpReceiver } from '../helpers/otlp_receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-trace-files-'));
describe('sgl trace subcommands on captured files', () => {
  const a = join(dir, 'a.json');
  const b = join(dir, 'b.json');
  beforeAll(() => {
    writeFileSync(a, capture());
    writeFileSync(b, capture(2));
  });

  it('summary: per-stage statistics, TTFT/E2E and the slowest requests, as computed by hand', async () => {
    const r = await runCli(['trace', 'summary', a, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.requests).toBe(2);
    const tokenize = s.stages.find((x: { stage: string }) => x.stage === 'tokenize');
    expect(tokenize).toMatchObject({ module: 'request', thread: 'main', requests: 2, slices: 2, meanMs: 2, p50Ms: 2, maxMs: 3 });
    expect(tokenize.p90Ms).toBeCloseTo(2.8, 9);
    expect(tokenize.shareOfE2e).toBeCloseTo((1 / 10 + 3 / 30) / 2, 9);
    expect(s.stages.find((x: { stage: string }) => x.stage === 'decode_loop').meanMs).toBe(18);
    expect(s.e2e_latency_ms.mean).toBe(20);
    expect(s.ttft_ms.median).toBe(2);
    expect(s.tpot_ms.mean).toBeCloseTo((9 / 4 + 27 / 4) / 2, 9);
    expect(s.slowest.map((x: { rid: string }) => x.rid)).toEqual(['b', 'a']);
  });

  it('show: a waterfall per request, chosen by id or by slowness', async () => {
    const r = await runCli(['trace', 'show', a, '--request', 'a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^request a\s+4 prompt \+ 5 output tokens, length, e2e 10\.0 ms/m);
    expect(r.stdout).toMatch(/decode_loop\s+worker\s+│/);
    const slow = await runCli(['trace', 'show', a, '--slowest', '1']);
    expect(slow.stdout).toMatch(/^request b /m);
    expect(slow.stdout).not.toMatch(/^request a /m);
    const missing = await runCli(['trace', 'show', a, '--request', 'zzz']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No request zzz/);
  });

  it('diff: stage by stage, the change between two captures', async () => {
    const r = await runCli(['trace', 'diff', a, b, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = new Map(JSON.parse(r.stdout).rows.map((x: { name: string; p50Drift: number }) => [x.name, x.p50Drift]));
    expect(rows.get('decode_loop')).toBeCloseTo(1, 9);
    expect(rows.get('tokenize')).toBe(0);
    // Two requests a side: too few for the rank test to call anything, and the table says so rather than guess.
    expect(JSON.parse(r.stdout).rows.every((x: { significant: boolean | null }) => x.significant === null)).toBe(true);
    const text = await runCli(['trace', 'diff', a, b]);
    expect(text.stdout).toMatch(/verdict at 95%/);
    expect(text.stdout).toMatch(/too few samples to tell/);
  });

  it('convert --to otlp-json: the OTLP proto3 JSON mapping, hex ids and string nanoseconds', async () => {
    const out = join(dir, 'a.otlp.json');
    const r = await runCli(['trace', 'convert', a, '--to', 'otlp-json', '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    const spans = doc.resourceSpans[0].scopeSpans[0].spans as {
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      name: string;
      startTimeUnixNano: string;
      endTimeUnixNano: string;
    }[];
    expect(doc.resourceSpans[0].resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'sgl' } });
    for (const sp of spans) {
      expect(sp.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(sp.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(sp.startTimeUnixNano).toMatch(/^\d+$/);
      expect(BigInt(sp.endTimeUnixNano) >= BigInt(sp.startTimeUnixNano)).toBe(true);
    }
    const root = spans.find((sp) => sp.traceId === TRACE_A && !sp.parentSpanId)!;
    expect(root.spanId).toBe('b7ad6b7169203331');
    const decode = spans.find((sp) => sp.traceId === TRACE_A && sp.name === 'decode_loop')!;
    expect(BigInt(decode.endTimeUnixNano) - BigInt(decode.startTimeUnixNano)).toBe(9_000_000n);
  });

  it('convert -o - writes the data, and nothing else, to stdout; the message goes to stderr', async () => {
    const r = await runCli(['trace', 'convert', a, '--to', 'otlp-json', '-o', '-']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).resourceSpans[0].scopeSpans[0].spans.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/Wrote 2 requests to stdout/);
  });

  it('convert --to perfetto: flow arrows from each request main thread to the worker and back', async () => {
    const out = join(dir, 'a.perfetto.json');
    const r = await runCli(['trace', 'convert', a, '--to', 'perfetto', '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    const { traceEvents } = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: { ph: string; id?: number; pid: number; ts: number }[] };
    const starts = traceEvents.filter((e) => e.ph === 's');
    const finishes = traceEvents.filter((e) => e.ph === 'f');
    expect(starts).toHaveLength(4);
    expect(finishes.map((e) => e.id).sort()).toEqual(starts.map((e) => e.id).sort());
    expect(
      starts
        .filter((e) => e.pid === 1)
        .map((e) => e.ts)
        .sort((x, y) => x - y),
    ).toEqual([1000, 5000]);
  });

  describe('export', () => {
    let receiver: OtlpReceiver;
    beforeAll(async () => {
      receiver = await OtlpReceiver.start();
    });
    afterAll(async () => {
      await receiver.stop();
    });

    it('sends the capture to a collector with its original trace and span ids and times', async () => {
      const r = await runCli(['trace', 'export', a, '--otlp-traces-endpoint', receiver.url]);
      expect(r.code, r.stderr).toBe(0);
      const roots = receiver.spans.filter((s) => s.parentSpanId === '');
      expect(roots.map((s) => [s.traceId, s.spanId]).sort()).toEqual([
        [TRACE_A, 'b7ad6b7169203331'],
        [TRACE_B, '00f067aa0ba902b7'],
      ]);
      const decode = receiver.spans.find((s) => s.traceId === TRACE_A && s.name === 'decode_loop')!;
      expect(Number(decode.endNs - decode.startNs)).toBe(9_000_000);
      const tokenize = receiver.spans.find((s) => s.traceId === TRACE_A && s.name === 'tokenize')!;
      expect(Number(decode.startNs - tokenize.startNs)).toBe(1_000_000);
    });

    it('says why spans could not be delivered', async () => {
      const r = await runCli(['trace', 'export', a, '--otlp-traces-endpoint', 'http://127.0.0.1:9']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/spans from .* were not delivered to .*127\.0\.0\.1:9 \(grpc\): .*(ECONNREFUSED|UNAVAILABLE|No connection)/);
    });
  });

  it('loads what is complete of a file cut short and says where it stops; rejects a file that is not a trace', async () => {
    const text = capture();
    const cut = join(dir, 'cut.json');
    writeFileSync(cut, text.slice(0, text.indexOf('"rid":"b","arrivalMs"') + 5));
    const r = await runCli(['trace', 'summary', cut]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/cut\.json: 1 requests/);
    expect(r.stderr).toMatch(/cut\.json was cut short after line 13; using the 1 requests it holds in full/);
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"not": "a trace"}');
    const bad = await runCli(['trace', 'summary', other]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/other\.json:1: expected "\["/);
  });
});
