/**
 * Synthetic level-3 captures of any size, written with sgl's own trace file
 * writer: what a capture of `tokens`-token requests at concurrency
 * `concurrency` looks like (every stage of every module, per-token slices on
 * both threads), without running a model. For tests and benchmarks of the
 * tools that read captures.
 */
import type { FinishedRequest } from '../src/lib/tracing/finished_request.js';
import { E, EVENTS, S, STAGES } from '../src/lib/tracing/stages.js';
import type { TraceModule } from '../src/lib/tracing/stages.js';
import { TraceMetricContext } from '../src/lib/tracing/trace_context.js';
import { traceMask } from '../src/lib/tracing/trace_config.js';
import { TraceFileWriter } from '../src/lib/tracing/trace_file/writer.js';
import type { TraceHeader } from '../src/lib/tracing/tracing.js';

export interface SyntheticOptions {
  requests: number;
  /** Output tokens per request. */
  tokens: number;
  /** Requests in flight at once (arrivals are spaced so that this many overlap). */
  concurrency: number;
  /** The KV layout the header names (none: a capture from before headers named it, the dense layout). */
  kvLayout?: 'dense' | 'slots' | 'gqa';
}

const ALL_STAGES = new Uint8Array(STAGES.length).fill(1);
const ALL_EVENTS = new Uint8Array(EVENTS.length).fill(1);
const MODULES: TraceModule[] = ['request', 'scheduler', 'engine'];

export const SYNTHETIC_HEADER: TraceHeader = {
  tool: 'sgl',
  version: '0.0.0-synthetic',
  startedAt: 0,
  model: { id: 'synthetic', dir: '/nonexistent/synthetic' },
  device: 'cpu',
  engine: {},
  trace: { level: 3, modules: ['request', 'scheduler', 'engine'], sampleRate: 1, includeContent: false },
};

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0').slice(-width);

/** Request `i` of a synthetic capture: deterministic ids and times (ms on the capture's clock). */
export function syntheticRequest(i: number, o: SyntheticOptions): FinishedRequest {
  const step = 2; // ms per decode step
  const start = 1 + (i * (o.tokens * step)) / o.concurrency;
  // Recorded as a traced request records itself: the engine's own recorder, with explicit times.
  const mask = traceMask(3, MODULES, false);
  const main = new TraceMetricContext(mask);
  const worker = new TraceMetricContext(mask);
  let t = start;
  main.slice(S.tokenize, t, t + 0.2);
  t += 0.2;
  worker.slice(S.dispatch, t, t + 0.01);
  worker.slice(S.queue_wait, t + 0.01, t + 0.5);
  t += 0.5;
  worker.begin(S.prefill_forward, t);
  worker.slice(S.prepare_inputs, t, t + 0.1);
  worker.slice(S.ort_run, t + 0.1, t + 2.9);
  worker.slice(S.sample, t + 2.9, t + 3);
  worker.event(E.forward, t + 0.1, 1, 0);
  t += 3;
  worker.end(S.prefill_forward, t);
  worker.event(E.first_token, t);
  const loopStart = t;
  worker.begin(S.decode_loop, t);
  for (let k = 1; k < o.tokens; k++) {
    worker.event(E.schedule, t, k, o.concurrency);
    worker.begin(S.decode_forward, t);
    worker.slice(S.prepare_inputs, t, t + 0.05);
    worker.slice(S.ort_run, t + 0.05, t + step - 0.05);
    worker.slice(S.sample, t + step - 0.05, t + step);
    worker.event(E.forward, t + 0.05, o.concurrency, k);
    worker.end(S.decode_forward, t + step);
    // The main thread hands each token on while the worker runs the next step.
    main.slice(S.detokenize_wait, t + step, t + step + 0.013);
    main.slice(S.detokenize, t + step + 0.013, t + step + 0.047);
    main.slice(S.respond, t + step + 0.047, t + step + 0.09);
    t += step;
  }
  worker.end(S.decode_loop, t);
  worker.event(E.finish, t);
  const end = t + 0.1;
  const rid = `synthetic-${i}`;
  return {
    rid,
    traceId: hex(0x5e1 + i, 32),
    rootSpanId: hex(0x1000 + i, 16),
    parentSpanId: null,
    level: 3,
    modules: ['request', 'scheduler', 'engine'],
    spanStages: ALL_STAGES,
    spanEvents: ALL_EVENTS,
    start,
    end,
    main: main.records(),
    worker: worker.records(),
    error: null,
    model: 'synthetic',
    operation: 'text_completion',
    workload: {
      rid,
      arrivalMs: start,
      inputTokens: 32,
      sampling: { maxTokens: o.tokens, temperature: 0, topP: 1, topK: -1, seed: i, ignoreEos: true },
      outputTokens: o.tokens,
      finishReason: 'length',
      ttftMs: loopStart - start,
      e2eMs: end - start,
      stages: { tokenize: 0.2, queue_wait: 0.49, prefill_forward: 3, decode_loop: t - loopStart, detokenize: 0.034 * (o.tokens - 1) },
    },
  };
}

/** Writes a synthetic capture to `path` with the trace file writer; resolves once it is on disk. */
export async function writeSyntheticCapture(path: string, o: SyntheticOptions, onProgress?: (written: number) => void): Promise<void> {
  const writer = new TraceFileWriter(path);
  writer.start(o.kvLayout ? { ...SYNTHETIC_HEADER, engine: { kvLayout: o.kvLayout } } : SYNTHETIC_HEADER);
  for (let i = 0; i < o.requests; i++) {
    writer.export(syntheticRequest(i, o));
    // Let the file stream drain now and then, so memory stays flat however large the capture.
    if (i % 256 === 255) {
      await writer.flush();
      onProgress?.(i + 1);
    }
  }
  await writer.shutdown();
}
