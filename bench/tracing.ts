/**
 * Tracing overhead, measured side by side in one run:
 *  1. nanoseconds per instrumentation point at level 0 (the shared null
 *     context) and at level 3 (recording into preallocated storage), and the
 *     same including the off-hot-path export to the trace file and to OTLP
 *     gRPC at a local receiver, against a direct OpenTelemetry span
 *     start/end (BasicTracerProvider, batch processor, discarding exporter);
 *  2. engine decode throughput at level 3 (all modules, trace file) against
 *     level 0 with 8 concurrent requests, interleaved runs, a fresh engine each.
 *
 *   npx tsx bench/tracing.ts [--preset base] [--rounds 3] [--concurrency 8] [--tokens 64]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import type { FinishedRequest } from '../src/lib/tracing/finished_request.js';
import { createOtlpExporter } from '../src/lib/tracing/exporters/otlp_exporter.js';
import { TraceFileWriter } from '../src/lib/tracing/trace_file/writer.js';
import { S } from '../src/lib/tracing/stages.js';
import { traceMask } from '../src/lib/tracing/trace_config.js';
import { NULL_CONTEXT, TraceMetricContext } from '../src/lib/tracing/trace_context.js';
import type { TraceContext } from '../src/lib/tracing/trace_context.js';
import type { TraceExporter } from '../src/lib/tracing/tracing.js';
import { Tracing } from '../src/lib/tracing/tracing.js';
import { OtlpReceiver } from '../test/helpers/otlp_receiver.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'base' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '64' },
  },
});
const row = (name: string, value: string): void => console.log(`${name.padEnd(58)} ${value}`);
const dir = mkdtempSync(join(tmpdir(), 'sgl-bench-tracing-'));
const ALL = ['request', 'scheduler', 'engine'] as const;

// ---------------------------------------------------------------- 1. points
const SLICES_PER_REQUEST = 200; // a decode_loop with 200 decode_forward slices: 400 points
const REQUESTS = 2000;
const POINTS = REQUESTS * (SLICES_PER_REQUEST + 1) * 2;

/** The hot path alone: one request's boundaries recorded through the TraceContext interface. */
function record(ctx: TraceContext): void {
  ctx.begin(S.decode_loop);
  for (let i = 0; i < SLICES_PER_REQUEST; i++) {
    ctx.begin(S.decode_forward);
    ctx.end(S.decode_forward);
  }
  ctx.end(S.decode_loop);
}

const mask3 = traceMask(3, ALL, false);
function finished(ctx: TraceMetricContext, i: number): FinishedRequest {
  const records = ctx.records();
  const start = records[2];
  const end = records[records.length - 4];
  return {
    rid: `r${i}`,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    rootSpanId: 'b7ad6b7169203331',
    parentSpanId: null,
    level: 3,
    modules: ALL,
    spanStages: mask3.stages,
    spanEvents: mask3.events,
    start,
    end,
    main: new Float64Array(0),
    worker: records,
    error: null,
    model: 'bench',
    operation: 'text_completion',
    workload: {
      rid: `r${i}`,
      arrivalMs: start,
      inputTokens: 8,
      sampling: { maxTokens: 200, temperature: 0, topP: 1, topK: 0, seed: 1, ignoreEos: true, stop: [] },
      outputTokens: 200,
      finishReason: 'length',
      ttftMs: 1,
      e2eMs: end - start,
      stages: {},
    },
  };
}

async function nsPerPoint(make: () => TraceContext, exporter?: TraceExporter): Promise<number> {
  // Warm up both context classes at the call sites, as in a server where both occur.
  for (let i = 0; i < 200; i++) {
    record(NULL_CONTEXT);
    record(new TraceMetricContext(mask3));
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) {
    const ctx = make();
    record(ctx);
    if (exporter) exporter.export(finished(ctx as TraceMetricContext, i));
  }
  if (exporter) await exporter.flush();
  return Number(process.hrtime.bigint() - start) / POINTS;
}

async function otelNsPerPoint(): Promise<number> {
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const discard = { export: (_: unknown, done: (r: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard, { maxQueueSize: 1 << 20, maxExportBatchSize: 4096 })] });
  const tracer = provider.getTracer('bench');
  const run = (): void => {
    const loop = tracer.startSpan('decode_loop');
    for (let i = 0; i < SLICES_PER_REQUEST; i++) tracer.startSpan('decode_forward').end();
    loop.end();
  };
  for (let i = 0; i < 200; i++) run();
  const start = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) run();
  await provider.forceFlush();
  const ns = Number(process.hrtime.bigint() - start) / POINTS;
  await provider.shutdown();
  return ns;
}

const receiver = await OtlpReceiver.start();
const level0 = await nsPerPoint(() => NULL_CONTEXT);
const level3 = await nsPerPoint(() => new TraceMetricContext(mask3, 512));
const file = new TraceFileWriter(join(dir, 'points.json'));
const level3File = await nsPerPoint(() => new TraceMetricContext(mask3, 512), file);
await file.shutdown();
const otlp = await createOtlpExporter({ protocol: 'grpc', url: receiver.url, from: 'flag' }, null, { maxQueue: 1 << 22 });
const level3Otlp = await nsPerPoint(() => new TraceMetricContext(mask3, 512), otlp);
await otlp.shutdown();
const otel = await otelNsPerPoint();
await receiver.stop();

console.log(`instrumentation points (${POINTS.toLocaleString()} per measurement; a point is one slice boundary)\n`);
row('level 0 (shared null context)', `${level0.toFixed(2)} ns/point   (target < 10 ns)`);
row('level 3, recording only (the hot path)', `${level3.toFixed(1)} ns/point`);
row('level 3, recording + trace file export', `${level3File.toFixed(1)} ns/point`);
row('level 3, recording + OTLP gRPC export to a local receiver', `${level3Otlp.toFixed(1)} ns/point`);
row('direct OpenTelemetry span start/end (batch processor)', `${otel.toFixed(1)} ns/point`);
row('level 3 hot path / direct OpenTelemetry', `${(level3 / otel).toFixed(3)}x   (target < 0.1x)`);

// ---------------------------------------------------------- 2. throughput
const { preset, dir: modelDir } = presetModel(opts.preset!);
const concurrency = Number(opts.concurrency);
const maxTokens = Number(opts.tokens);
const PROMPTS = ['Hello, my name is', 'The quick brown fox jumps over', 'In a distant galaxy', 'Once upon a time'];

type Variant = 'level 0' | 'level 3, no exporter' | 'level 3, trace file';
const VARIANTS: Variant[] = ['level 0', 'level 3, no exporter', 'level 3, trace file'];

function tracingFor(variant: Variant, round: number): Tracing {
  if (variant === 'level 0') return new Tracing();
  const exporters = variant === 'level 3, trace file' ? [new TraceFileWriter(join(dir, `engine-${round}.json`))] : [];
  return new Tracing({ level: 3, modules: [...ALL], exporters });
}

async function throughput(variant: Variant, round: number): Promise<number> {
  const tracing = tracingFor(variant, round);
  const engine = await Engine.create({ modelPath: modelDir, tracing });
  const run = async (i: number): Promise<number> => {
    let n = 0;
    for await (const c of await engine.generate({ prompt: PROMPTS[i % PROMPTS.length], sampling: { maxTokens, temperature: 0, ignoreEos: true } }))
      n += c.tokenIds.length;
    return n;
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => run(i))); // warm-up
  const start = performance.now();
  const tokens = (await Promise.all(Array.from({ length: concurrency }, (_, i) => run(i)))).reduce((a, b) => a + b, 0);
  const tps = (tokens * 1000) / (performance.now() - start);
  await engine.shutdown();
  await tracing.shutdown();
  return tps;
}

const rounds = Number(opts.rounds);
const results = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
for (let r = 0; r < rounds; r++) {
  // Rotate the order so drift falls on every variant alike.
  for (let k = 0; k < VARIANTS.length; k++) {
    const variant = VARIANTS[(r + k) % VARIANTS.length];
    results.get(variant)!.push(await throughput(variant, r));
  }
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Half-width of a 95% confidence interval of the mean (normal approximation). */
const ci95 = (xs: number[]): number => {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  return (1.96 * sd) / Math.sqrt(xs.length);
};
console.log(`\nengine on ${preset}, ${concurrency} concurrent requests x ${maxTokens} tokens, ${rounds} rotated rounds, a fresh engine per run\n`);
for (const v of VARIANTS)
  row(
    `${v}: output tok/s per round`,
    results
      .get(v)!
      .map((x) => x.toFixed(1))
      .join(', '),
  );
const base = results.get('level 0')!;
for (const v of VARIANTS.slice(1)) {
  const ratios = results.get(v)!.map((x, i) => x / base[i]);
  row(
    `${v} / level 0, throughput`,
    `${mean(ratios).toFixed(3)}x ± ${ci95(ratios).toFixed(3)} (95% CI; rounds ${ratios.map((x) => x.toFixed(3)).join(', ')})   (target >= 0.98x)`,
  );
}
