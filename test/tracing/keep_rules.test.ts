import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { syntheticRequest } from '../../bench/synthetic_capture.js';
import { Engine } from '../../src/lib/engine/engine.js';
import { MemoryExporter } from '../../src/lib/tracing/exporters/memory_exporter.js';
import type { FinishedRequest } from '../../src/lib/tracing/finished_request.js';
import { TailSampler, parseKeepRules } from '../../src/lib/tracing/keep_rules.js';
import { spanCount } from '../../src/lib/tracing/records.js';
import { createTracing } from '../../src/lib/tracing/tracing_setup.js';
import { Rng } from '../../src/lib/stats/rng.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-keep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A synthetic finished request with the given E2E and TTFT (ms), and an error if asked. */
function request(i: number, e2eMs: number, ttftMs: number | null, error: string | null = null): FinishedRequest {
  const r = syntheticRequest(i, { requests: 1, tokens: 4, concurrency: 1 });
  return { ...r, error, workload: { ...r.workload, e2eMs, ttftMs, finishReason: error ? 'abort' : 'length' } };
}

describe('tail-based sampling rules (--trace-keep)', () => {
  it('parses the rules, and says what is wrong with one that is not', () => {
    expect(parseKeepRules('error, slow:e2e>2s,slow:ttft>250ms,slow:ttft>p99,rate:0.01')).toEqual([
      { kind: 'error' },
      { kind: 'slow', metric: 'e2e', overMs: 2000 },
      { kind: 'slow', metric: 'ttft', overMs: 250 },
      { kind: 'slow-quantile', metric: 'ttft', quantile: 0.99 },
      { kind: 'rate', share: 0.01 },
    ]);
    expect(() => parseKeepRules('slow:tpot>1s')).toThrow(/"slow:tpot>1s" is not a keep rule; rules are error, slow:e2e>2s/);
    expect(() => parseKeepRules('rate:2')).toThrow(/not a keep rule/);
    expect(() => parseKeepRules(' , ')).toThrow(/at least one rule/);
  });

  it('keeps errors, requests over a threshold, and a seeded share', () => {
    const s = new TailSampler(parseKeepRules('error,slow:e2e>100ms'));
    expect([request(0, 50, 10), request(1, 150, 10), request(2, 20, null, 'aborted')].map((r) => s.keep(r))).toEqual([false, true, true]);
    const rng = new Rng(7);
    const share = new TailSampler(parseKeepRules('rate:0.1'), () => rng.next());
    let kept = 0;
    for (let i = 0; i < 10000; i++) if (share.keep(request(i, 10, 1))) kept++;
    expect(kept).toBeGreaterThan(900);
    expect(kept).toBeLessThan(1100);
  });

  it('keeps about 1% above a running p99, and the tail of a shifted workload', () => {
    const s = new TailSampler(parseKeepRules('slow:ttft>p99'));
    const rng = new Rng(3);
    let kept = 0;
    // Log-normal TTFTs around 50 ms.
    const ttft = (): number => 50 * Math.exp(0.5 * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
    for (let i = 0; i < 20000; i++) if (s.keep(request(i, 100, ttft()))) kept++;
    expect(kept / 20000).toBeGreaterThan(0.005);
    expect(kept / 20000).toBeLessThan(0.02);
    // A request ten times slower than anything seen is always kept.
    expect(s.keep(request(0, 100, 5000))).toBe(true);
  });

  it('exports exactly the slow requests, each with all its spans, writes the rules in the header, and counts every request in the metrics', async () => {
    const file = join(dir, 'kept.json');
    const memory = new MemoryExporter();
    const tracing = await createTracing(
      { level: 2, modules: ['request'], sampleRate: 1, includeContent: false, traceFile: file, keep: parseKeepRules('slow:e2e>300ms') },
      { metrics: true, exporters: [memory] },
    );
    const engine = await Engine.create({ tracing });
    // The slow ones have a slow client: it takes 600 ms to come back after the first chunk, so their E2E is over 600 ms on any machine.
    const run = async (slow: boolean): Promise<string> => {
      const stream = await engine.generate({ prompt: 'Hello there', sampling: { maxTokens: 2, ignoreEos: true } });
      for await (const c of stream) if (slow && c.tokenIds.length) await new Promise((r) => setTimeout(r, 600));
      return stream.rid;
    };
    const kinds = [false, true, false, false, true, false];
    const rids = await Promise.all(kinds.map(run));
    await engine.shutdown();
    await tracing.shutdown();
    const slow = rids.filter((_, i) => kinds[i]).sort();
    expect(memory.requests.map((r) => r.rid).sort()).toEqual(slow);
    for (const r of memory.requests) {
      expect(r.workload.e2eMs).toBeGreaterThan(600);
      expect(spanCount(r)).toBeGreaterThan(10);
      expect(Object.keys(r.workload.stages)).toEqual(expect.arrayContaining(['tokenize', 'queue_wait', 'prefill_forward', 'decode_loop', 'respond']));
    }
    expect(tracing.metrics!.requests).toBe(6);
    expect(tracing.tailSampler).toMatchObject({ seen: 6, kept: 2 });

    const summary = await runCli(['trace', 'summary', file]);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toContain('2 requests');
    expect(summary.stdout).toMatch(/A biased sample: only requests kept by --trace-keep slow:e2e>300ms were written/);
    const json = JSON.parse((await runCli(['trace', 'summary', file, '--json'])).stdout);
    expect(json.keptBy).toEqual(['slow:e2e>300ms']);
  });
});
