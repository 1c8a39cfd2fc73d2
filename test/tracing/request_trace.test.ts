import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { STAGES } from '../../src/lib/tracing/stages.js';
import { slices as sliceRecords } from '../../src/lib/tracing/records.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import type { FinishedRequest } from '../../src/lib/tracing/finished_request.js';
import { MemoryExporter } from '../../src/lib/tracing/exporters/memory_exporter.js';
import { spanNames } from '../helpers/tracing.js';
import { nestedRows, stageRows, unionMs } from '../../src/lib/analysis/stage_rows.js';
import { formatWaterfall } from '../../src/lib/report/waterfall.js';
import { summarizeStages } from '../../src/lib/analysis/stage_summary.js';

function slices(req: FinishedRequest): { name: string; start: number; end: number; aborted: boolean }[] {
  const out = [];
  for (const records of [req.main, req.worker]) {
    for (const s of sliceRecords(records, req.spanStages)) out.push({ name: STAGES[s.id].name, start: s.start, end: s.end, aborted: s.aborted });
  }
  return out;
}

/** Milliseconds of [start, end] that no slice covers. */
function uncovered(req: FinishedRequest): number {
  const spans = slices(req).sort((a, b) => a.start - b.start);
  let covered = req.start;
  let gap = 0;
  for (const s of spans) {
    if (s.start > covered) gap += s.start - covered;
    covered = Math.max(covered, s.end);
  }
  return gap + Math.max(0, req.end - covered);
}

async function traced(level: 1 | 2 | 3, body: (engine: Engine) => Promise<void>, options = {}, expected = 1): Promise<FinishedRequest[]> {
  const sink = new MemoryExporter();
  const tracing = new Tracing({ level, modules: ['request', 'scheduler', 'engine'], exporters: [sink] });
  const engine = await Engine.create({ tracing, ...options });
  try {
    await body(engine);
    // A request stopped on the main thread completes its trace when the worker's records arrive.
    for (let waited = 0; sink.requests.length < expected && waited < 5000; waited += 10) {
      await tracing.flush();
      await new Promise((r) => setTimeout(r, 10));
    }
    await tracing.flush();
  } finally {
    await engine.shutdown();
  }
  return sink.requests;
}

describe('request traces', () => {
  it('at level 2 the stages account for the end-to-end time (under 1% unexplained)', async () => {
    const requests = await traced(
      2,
      async (engine) => {
        const run = async (prompt: string, maxTokens: number): Promise<void> => {
          for await (const c of await engine.generate({ prompt, sampling: { maxTokens, temperature: 0, ignoreEos: true } })) void c;
        };
        await Promise.all([run('The quick brown fox', 24), run('Once upon a time there was', 16), run('Hi', 20)]);
      },
      {},
      3,
    );
    expect(requests).toHaveLength(3);
    for (const req of requests) {
      const e2e = req.end - req.start;
      expect(uncovered(req) / e2e).toBeLessThan(0.01);
      expect(req.workload.e2eMs).toBeCloseTo(e2e, 6);
      expect(req.workload.outputTokens).toBeGreaterThan(0);
    }
  });

  it('with 8 concurrent requests no stage covers more than 100% of E2E, and the stages still account for it within 1%', async () => {
    const requests = await traced(
      2,
      async (engine) => {
        const run = async (prompt: string, n: number): Promise<void> => {
          for await (const c of await engine.generate({ prompt, sampling: { maxTokens: n, temperature: 0, ignoreEos: true } })) void c;
        };
        await Promise.all(Array.from({ length: 8 }, (_, i) => run(`request number ${i} says`, 10 + 2 * i)));
      },
      {},
      8,
    );
    expect(requests).toHaveLength(8);
    for (const req of requests) {
      const e2e = req.end - req.start;
      for (const row of stageRows(req)) expect(row.wallMs / e2e, row.stage).toBeLessThanOrEqual(1 + 1e-9);
      expect(uncovered(req) / e2e).toBeLessThan(0.01);
    }
    for (const s of summarizeStages(requests)) expect(s.shareOfE2e, s.stage).toBeLessThanOrEqual(1 + 1e-9);
    expect(unionMs([0, 2, 1, 3, 5, 6])).toBe(4);
  });

  it('a request sent while the worker runs a long prefill waits under queue_wait, not dispatch', async () => {
    const requests = await traced(
      2,
      async (engine) => {
        const ids = (n: number, from: number): number[] => Array.from({ length: n }, (_, i) => 100 + ((from + i) % 5000));
        // 900 prompt tokens in chunks of 64: one long step during which the worker reads no messages.
        const long = await engine.generate({ rid: 'long', inputIds: ids(900, 0), sampling: { maxTokens: 2, temperature: 0, ignoreEos: true } });
        const short = await engine.generate({ rid: 'short', inputIds: ids(8, 7), sampling: { maxTokens: 2, temperature: 0, ignoreEos: true } });
        await Promise.all(
          [long, short].map(async (s) => {
            for await (const c of s) void c;
          }),
        );
      },
      { maxPrefillTokens: 64 },
      2,
    );
    const byRid = new Map(requests.map((r) => [r.workload.rid, r.workload.stages]));
    const long = byRid.get('long')!;
    const short = byRid.get('short')!;
    // It was posted as the long prefill began, so it waited for most of it, and that wait is queueing; the hop
    // itself is a message handed over (a fraction of a millisecond alone, a few on a loaded machine: no absolute bound).
    expect(short.queue_wait).toBeGreaterThan(0.5 * long.prefill_forward);
    expect(short.dispatch).toBeLessThan(0.1 * short.queue_wait);
  });

  it('a token waiting for the main thread is detokenize_wait, and detokenize is the work alone', async () => {
    const requests = await traced(
      2,
      async (engine) => {
        const run = async (prompt: string): Promise<void> => {
          for await (const c of await engine.generate({ prompt, sampling: { maxTokens: 12, temperature: 0, ignoreEos: true } })) void c;
        };
        await Promise.all(['one', 'two words', 'three more words', 'and a fourth', 'five', 'six', 'seven', 'eight'].map(run));
      },
      {},
      8,
    );
    for (const req of requests) {
      const own = slices(req)
        .filter((x) => x.name === 'detokenize' || x.name === 'detokenize_wait')
        .sort((a, b) => a.start - b.start);
      // One request's slices never overlap each other, whatever the others do on the same thread.
      for (let i = 1; i < own.length; i++) expect(own[i].start).toBeGreaterThanOrEqual(own[i - 1].end - 1e-9);
      expect(own.filter((x) => x.name === 'detokenize')).toHaveLength(12);
    }
  });

  it('an abort mid-decode closes every open slice as failed and marks the request', async () => {
    const [req] = await traced(3, async (engine) => {
      let n = 0;
      for await (const c of await engine.generate({ prompt: 'Tell me a story', sampling: { maxTokens: 50, temperature: 0, ignoreEos: true } })) {
        void c;
        if (++n === 3) break;
      }
    });
    expect(req.error).toBe('aborted');
    expect(req.workload.finishReason).toBe('abort');
    const all = slices(req);
    expect(all.find((s) => s.name === 'decode_loop')?.aborted).toBe(true);
    expect(spanNames(req).events.has('abort')).toBe(true);
    expect(spanNames(req).events.has('finish')).toBe(false);
    for (const s of all) expect(s.end).toBeGreaterThanOrEqual(s.start);
  });

  it('a stop string ends the trace normally, not as an abort', async () => {
    const [req] = await traced(1, async (engine) => {
      // Greedy output of the embedded model here is " Reduce Connor Recordrative ...".
      for await (const c of await engine.generate({ prompt: 'Hello, my name is', sampling: { maxTokens: 20, temperature: 0, stop: ['Connor'] } })) void c;
    });
    expect(req.workload.finishReason).toBe('stop');
    expect(req.error).toBeNull();
    expect(slices(req).every((s) => !s.aborted)).toBe(true);
    expect(spanNames(req).events).toEqual(new Set(['first_token', 'finish']));
  });

  it('a request aborted while it waits closes its queue_wait', async () => {
    const requests = await traced(
      1,
      async (engine) => {
        // Dispatched before the second is sent: requests reach the scheduler in the order their tokenization ends.
        const long = await engine.generate({ prompt: 'Long one', sampling: { maxTokens: 40, temperature: 0, ignoreEos: true } });
        const first = (async () => {
          for await (const c of long) void c;
        })();
        const waiting = await engine.generate({ rid: 'queued', prompt: 'Second', sampling: { maxTokens: 4 } });
        const consumer = (async () => {
          for await (const c of waiting) void c;
        })();
        engine.abort('queued');
        await Promise.all([first, consumer]);
      },
      { maxRunningRequests: 1 },
      2,
    );
    const queued = requests.find((r) => r.rid === 'queued')!;
    expect(queued.error).toBe('aborted');
    // Its last queue_wait slice (an earlier one may be the wait for a busy worker) is the one the abort closed.
    const q = slices(queued)
      .filter((s) => s.name === 'queue_wait')
      .at(-1)!;
    expect(q.aborted).toBe(true);
    expect(slices(queued).some((s) => s.name === 'decode_loop')).toBe(false);
  });

  it('the incoming traceparent becomes the parent and its trace id is kept', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const [req] = await traced(1, async (engine) => {
      for await (const c of await engine.generate({ prompt: 'Hi', sampling: { maxTokens: 2 } }, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })) void c;
    });
    expect(req.traceId).toBe(traceId);
    expect(req.parentSpanId).toBe('00f067aa0ba902b7');
    expect(req.rootSpanId).toMatch(/^[0-9a-f]{16}$/);
    expect(req.rootSpanId).not.toBe(req.parentSpanId);
  });
});

describe('metrics', () => {
  it('see every request at level 0 and with a sample rate of 0; spans see none', async () => {
    for (const config of [{ level: 0 as const }, { level: 3 as const, sampleRate: 0 }]) {
      const sink = new MemoryExporter();
      const tracing = new Tracing({ ...config, metrics: true, exporters: [sink] });
      const engine = await Engine.create({ tracing });
      for (let i = 0; i < 3; i++) {
        for await (const c of await engine.generate({ prompt: 'Hello', sampling: { maxTokens: 5, temperature: 0, ignoreEos: true } })) void c;
      }
      await tracing.flush();
      await engine.shutdown();
      expect(sink.requests).toHaveLength(0);
      const text = tracing.metrics!.render();
      expect(text).toMatch(/sglang:per_stage_req_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+",stage="tokenize"\} 3/);
      expect(text).toMatch(/sglang:per_stage_req_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+",stage="decode_forward"\} 12/);
      expect(text).toMatch(/sglang:time_to_first_token_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} 3/);
      expect(text).toMatch(/sglang:inter_token_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} 12/);
      expect(text).toMatch(/sglang:e2e_request_latency_seconds_count\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} 3/);
      expect(text).toMatch(/sglang:generation_tokens_total\{model_name="sgl-llama-tiny",instance_id="[^"]+"\} 15/);
      expect(text).not.toMatch(/stage="respond"/);
    }
  });
});

describe('the waterfall tree', () => {
  it('at level 3 with every module, each row sits under a row that contains it in time on the same thread', async () => {
    const requests = await traced(
      3,
      async (engine) => {
        const run = async (prompt: string, n: number): Promise<void> => {
          for await (const c of await engine.generate({ prompt, sampling: { maxTokens: n, temperature: 0, ignoreEos: true } })) void c;
        };
        await Promise.all([run('The quick brown fox jumps over the lazy dog', 12), run('Hi', 8), run('Once upon a time', 10), run('A B C D', 6)]);
      },
      { maxPrefillTokens: 4 },
      4,
    );
    let nested = 0;
    for (const req of requests) {
      const rows = nestedRows(req);
      for (const row of rows) {
        if (row.parent === null) continue;
        nested++;
        const parent = rows[row.parent];
        expect(parent.thread, `${row.stage} under ${parent.stage}`).toBe(row.thread);
        for (let i = 0; i < row.intervals.length; i += 2) {
          const inside = parent.intervals.some(
            (_, j) => j % 2 === 0 && parent.intervals[j] <= row.intervals[i] + 1e-6 && parent.intervals[j + 1] >= row.intervals[i + 1] - 1e-6,
          );
          expect(inside, `${row.stage} slice ${i / 2} inside ${parent.stage}`).toBe(true);
        }
      }
      // The decode steps' onnxruntime runs hang under decode_forward, not under a prefill chunk.
      const underDecode = rows.filter((r) => r.stage === 'ort_run' && r.parent !== null && rows[r.parent].stage === 'decode_forward');
      expect(underDecode).toHaveLength(1);
      expect(rows.filter((r) => r.stage === 'decode_forward' && r.parent !== null).every((r) => rows[r.parent!].stage === 'decode_loop')).toBe(true);
    }
    expect(nested).toBeGreaterThan(0);
    // The terminal waterfall draws that tree.
    const text = formatWaterfall(requests[0]);
    expect(text).toMatch(/decode_loop[\s\S]*\n {4}decode_forward[\s\S]*\n {6}ort_run/);
  });
});
