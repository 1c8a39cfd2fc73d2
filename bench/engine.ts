/**
 * Engine benchmark: decode speed against a bare onnxruntime loop and
 * @huggingface/transformers, batching gain under concurrency, and peak RSS
 * while a flood of long prompts waits for KV memory. Everything runs in one
 * process on the same model directory and session options, side by side.
 *
 *   npx tsx bench/engine.ts [--preset small|base] [--tokens 64] [--concurrency 16] [--threads N] [--flood N (0: skip)]
 *   npx tsx bench/engine.ts --device webgpu [--preset tiny] [--tokens 16] [--concurrency 16] [--kv-layouts dense,gqa]
 *   npx tsx bench/engine.ts --sweep [--preset base] [--prompt-tokens 1500] [--sweep-rows 1,2,4,8,16,32] [--tokens 32] [--rounds 2] [--compare-dense]
 *   npx tsx bench/engine.ts --sweep --device webgpu --kv-layouts dense,gqa [--preset tiny] [--prompt-tokens 1000] [--sweep-rows 1,4]
 *   npx tsx bench/engine.ts --sweep --kv-layouts gqa --kv-cache-dtypes fp32,fp16 [--device webgpu]
 *
 * With --device it compares that device with the CPU instead, for each KV
 * layout's model in turn (dense, gqa), rounds alternating: batch-1 decode
 * and concurrent throughput side by side, and the bytes that cross between
 * host and device per decode step (counted from the tensors each run hands
 * over and gets back).
 *
 * With --sweep it runs R requests at once for each R and prints each decode
 * step against its memory-bandwidth floor (bench/kv_sweep.ts); with
 * --compare-dense the same sweep runs on the dense layout of the same
 * weights (generator 2) after it, for the before/after; --kv-layouts names
 * the layouts to sweep, and --device where (a GPU's floor is not probed:
 * the floor column is then the CPU's, and the layouts' steps compare);
 * --kv-cache-dtypes sweeps each layout with each KV element type (fp16:
 * gqa only) and prints each fp16 step against the fp32 one.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import type { Device } from '../src/lib/engine/engine.js';
import { loadModelSpec } from '../src/lib/engine/model_dir.js';
import { timedGeneration } from '../src/lib/engine/timed_generation.js';
import { TextTokenizer } from '../src/lib/engine/tokenizer/tokenizer.js';
import { BareOrtLoop, TransformersJs } from './baselines.js';
import { printSweep, sweep } from './kv_sweep.js';
import { presetModel } from './preset.js';
import type { KvDtype, KvLayoutKind } from '../src/lib/engine/generator/llama_graph.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'base' },
    tokens: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    threads: { type: 'string', default: String(availableParallelism()) },
    flood: { type: 'string', default: '48' },
    device: { type: 'string', default: 'cpu' },
    'kv-layouts': { type: 'string' },
    'kv-cache-dtypes': { type: 'string', default: 'fp32' },
    sweep: { type: 'boolean', default: false },
    'prompt-tokens': { type: 'string', default: '1500' },
    'sweep-rows': { type: 'string', default: '1,2,4,8,16,32' },
    'compare-dense': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '2' },
  },
});
// The sweep's steps are measured over 32 tokens a request; the other figures over 64.
const maxTokens = Number(opts.tokens ?? (opts.sweep ? 32 : 64));
const concurrency = Number(opts.concurrency);
const session = { intraOpThreads: Number(opts.threads), interOpThreads: 1 };
const PROMPTS = [
  'Hello, my name is',
  'The quick brown fox jumps over the lazy dog because',
  'In a distant galaxy, far beyond the reach of',
  'Once upon a time',
];
const greedy = { temperature: 0, maxTokens, ignoreEos: true };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const row = (name: string, value: string): void => {
  console.log(`${name.padEnd(52)} ${value}`);
};
const ratio = (a: number, b: number, target: string): string => `${(a / b).toFixed(2)}x   (target ${target})`;

if (opts.sweep) {
  const rows = opts['sweep-rows']!.split(',').map(Number);
  const layouts = (opts['kv-layouts']?.split(',') ?? (opts['compare-dense'] ? ['slots', 'dense'] : ['slots'])) as KvLayoutKind[];
  const dtypes = opts['kv-cache-dtypes']!.split(',').map((d): KvDtype => {
    if (d !== 'fp32' && d !== 'fp16') throw new Error(`--kv-cache-dtypes takes fp32 and fp16, got ${d}`);
    return d === 'fp16' ? 'float16' : 'float32';
  });
  const results = [];
  for (const base of layouts) {
    for (const kvDtype of dtypes) {
      if (kvDtype === 'float16' && base !== 'gqa') {
        console.log(`(the ${base} layout has no fp16 KV cache: skipped)`);
        continue;
      }
      const { preset, dir } = presetModel(opts.preset!, base, kvDtype);
      const layout = kvDtype === 'float16' ? `${base} fp16` : base;
      const o = {
        dir,
        preset,
        rows,
        promptTokens: Number(opts['prompt-tokens']),
        outputTokens: maxTokens,
        threads: session.intraOpThreads,
        label: `${layout} KV layout${opts.device === 'cpu' ? '' : ` on ${opts.device}`}`,
        rounds: Number(opts.rounds),
        device: opts.device as Device,
      };
      const r = await sweep(o);
      printSweep(o, r);
      results.push({ layout, r });
    }
  }
  console.log('\nratios');
  for (const { layout, r } of results) {
    const one = r.find((x) => x.rows === 1);
    const most = r[r.length - 1];
    const worst = Math.max(...r.map((x) => x.stepMs / x.floorMs));
    row(`${layout}: worst step / its floor`, ratio(worst, 1, '<= 2x'));
    const rss = Math.max(...r.map((x) => x.peakRssMiB / (x.startRssMiB + x.liveKvMiB)));
    row(`${layout}: worst peak RSS / (loaded engine + live KV)`, ratio(rss, 1, '<= 1.3x'));
    if (one && most !== one) {
      row(
        `${layout}: decode throughput R=${most.rows} / R=1`,
        ratio(most.decodeTokPerS, one.decodeTokPerS, '>= 4x at R=32 of 1,500 tokens; >= 3x at R=8 of 600'),
      );
      row(`${layout}: output throughput R=${most.rows} / R=1 (prefills included)`, ratio(most.outputTokPerS, one.outputTokPerS, 'prefill-bound'));
    }
  }
  const fp32 = results.find((x) => x.layout === 'gqa');
  const fp16 = results.find((x) => x.layout === 'gqa fp16');
  if (fp32 && fp16) {
    for (const x of fp16.r) {
      const y = fp32.r.find((z) => z.rows === x.rows);
      if (y) row(`gqa: fp16 KV step / fp32 KV step, R=${x.rows}`, ratio(x.stepMs, y.stepMs, '< 1x where a step is memory-bound (GPUs)'));
    }
  }
  process.exit(0);
}

// The baselines (a bare onnxruntime loop, transformers.js) and the device comparison drive the dense layout, the
// interface exports have; the slot layout (the generator's default) runs beside them on the same weights.
const { dir } = presetModel(opts.preset!, 'dense');
const { dir: slotDir } = presetModel(opts.preset!, 'slots');
const spec = loadModelSpec(dir);
const tokenizer = new TextTokenizer(spec);
console.log(`model ${spec.id}, ${maxTokens} tokens per request, ${session.intraOpThreads} intra-op threads\n`);

/** `device` against the CPU on one KV layout's model, side by side; what crosses between host and device per decode step. */
async function compareDevices(device: Device, layout: KvLayoutKind): Promise<void> {
  const { dir } = presetModel(opts.preset!, layout);
  console.log(`\n${layout} KV layout (${dir})`);
  const cpu = await Engine.create({ modelPath: dir, device: 'cpu', threads: session.intraOpThreads, interOpThreads: session.interOpThreads });
  const gpu = await Engine.create({ modelPath: dir, device, threads: session.intraOpThreads, interOpThreads: session.interOpThreads });
  const decode: Record<'cpu' | 'gpu', number[]> = { cpu: [], gpu: [] };
  const concurrent: Record<'cpu' | 'gpu', number[]> = { cpu: [], gpu: [] };
  const throughput = async (engine: Engine): Promise<number> => {
    const start = performance.now();
    const counts = await Promise.all(
      Array.from(
        { length: concurrency },
        async (_, i) => (await timedGeneration(engine, { prompt: PROMPTS[i % PROMPTS.length], sampling: greedy })).usage.completionTokens,
      ),
    );
    return (counts.reduce((a, b) => a + b, 0) * 1000) / (performance.now() - start);
  };
  // The first round compiles the device's kernels and is not counted.
  for (let i = 0; i < 1 + 3; i++) {
    for (const [key, engine] of [
      ['cpu', cpu],
      ['gpu', gpu],
    ] as const) {
      const one = await timedGeneration(engine, { prompt: PROMPTS[i % PROMPTS.length], sampling: greedy });
      const many = await throughput(engine);
      if (i === 0) continue;
      decode[key].push(one.timings.decodeTokensPerSecond ?? 0);
      concurrent[key].push(many);
    }
  }
  // Bytes per decode step: two requests that differ only in length; the extra runs are decode steps.
  const moved = async (tokens: number): Promise<{ runs: number; bytes: number; up: number; down: number }> => {
    const before = gpu.stats();
    await timedGeneration(gpu, { prompt: PROMPTS[0], sampling: { ...greedy, maxTokens: tokens } });
    const after = gpu.stats();
    const up = after.bytesToDevice - before.bytesToDevice;
    const down = after.bytesFromDevice - before.bytesFromDevice;
    return { runs: after.runs - before.runs, bytes: up + down, up, down };
  };
  const short = await moved(maxTokens);
  const long = await moved(2 * maxTokens);
  const steps = long.runs - short.runs;
  const perStep = (long.bytes - short.bytes) / steps;
  const target = gpu.info.vocabSize * 4 + 8;
  await cpu.shutdown();
  await gpu.shutdown();
  row(`cpu, batch 1: decode tok/s`, median(decode.cpu).toFixed(1));
  row(`${device}, batch 1: decode tok/s`, median(decode.gpu).toFixed(1));
  row(`cpu, ${concurrency} concurrent: output tok/s`, median(concurrent.cpu).toFixed(1));
  row(`${device}, ${concurrency} concurrent: output tok/s`, median(concurrent.gpu).toFixed(1));
  row(
    `${device}: bytes host<->device per decode step (batch 1)`,
    `${(perStep / 1024).toFixed(1)} KiB (up ${((long.up - short.up) / steps / 1024).toFixed(1)}, down ${((long.down - short.down) / steps / 1024).toFixed(1)}), past ${maxTokens}-${2 * maxTokens} tokens`,
  );
  console.log('\nratios');
  row(`${device} / cpu, batch-1 decode`, ratio(median(decode.gpu), median(decode.cpu), '> 1x on a real GPU'));
  row(`${device} / cpu, ${concurrency} concurrent`, ratio(median(concurrent.gpu), median(concurrent.cpu), '> 1x on a real GPU'));
  row('bytes per decode step / last-position logits and token id', ratio(perStep, target, '1x: the KV cache stays on the device'));
}

if (opts.device !== 'cpu') {
  // The dense layout keeps its cache on the device but copies it into a new present every step; gqa writes a column.
  for (const layout of (opts['kv-layouts'] ?? 'dense,gqa').split(',') as KvLayoutKind[]) await compareDevices(opts.device as Device, layout);
  process.exit(0);
}

// All three load up front; their runs alternate round by round so that
// warm-up and machine noise fall on each alike.
const bare = await BareOrtLoop.load(spec.onnxPath, session);
const engine = await Engine.create({ modelPath: dir, threads: session.intraOpThreads, interOpThreads: session.interOpThreads });
const slotEngine = await Engine.create({ modelPath: slotDir, threads: session.intraOpThreads, interOpThreads: session.interOpThreads });
let tjs: TransformersJs | null = null;
try {
  tjs = await TransformersJs.load(dir, session);
} catch (err) {
  console.log(`transformers.js unavailable, compared against the bare loop only: ${(err as Error).message}\n`);
}

const WARMUP = 3;
const ROUNDS = 8;
const bareDecode: number[] = [];
const engineDecode: number[] = [];
const engineSingle: number[] = [];
const tjsSingle: number[] = [];
for (let i = 0; i < WARMUP + ROUNDS; i++) {
  const prompt = PROMPTS[i % PROMPTS.length];
  const b = await bare.generate(tokenizer.encode(prompt), maxTokens);
  const e = await timedGeneration(engine, { prompt, sampling: greedy });
  const t = tjs ? await tjs.generate(prompt, maxTokens) : null;
  if (i < WARMUP) continue;
  bareDecode.push(b.decodeTokensPerSecond);
  engineDecode.push(e.timings.decodeTokensPerSecond ?? 0);
  engineSingle.push((e.usage.completionTokens * 1000) / e.timings.e2eMs);
  if (t !== null) tjsSingle.push((maxTokens * 1000) / t);
}
row('bare onnxruntime loop, batch 1: decode tok/s', median(bareDecode).toFixed(1));
row('engine, batch 1: decode tok/s', median(engineDecode).toFixed(1));
row('engine, single stream: output tok/s', median(engineSingle).toFixed(1));
if (tjs) row('transformers.js, single stream: output tok/s', median(tjsSingle).toFixed(1));

const concurrentThroughput = async (run: (prompt: string) => Promise<number>): Promise<number> => {
  const start = performance.now();
  const counts = await Promise.all(Array.from({ length: concurrency }, (_, i) => run(PROMPTS[i % PROMPTS.length])));
  return (counts.reduce((a, b) => a + b, 0) * 1000) / (performance.now() - start);
};
const engineRun = async (prompt: string): Promise<number> => (await timedGeneration(engine, { prompt, sampling: greedy })).usage.completionTokens;
const slotRun = async (prompt: string): Promise<number> => (await timedGeneration(slotEngine, { prompt, sampling: greedy })).usage.completionTokens;
const slotConcurrent: number[] = [];
const tjsRun = async (prompt: string): Promise<number> => (await tjs!.generate(prompt, maxTokens), maxTokens);
const engineConcurrent: number[] = [];
const tjsConcurrent: number[] = [];
for (let i = 0; i < 3; i++) {
  const e = await concurrentThroughput(engineRun);
  const sl = await concurrentThroughput(slotRun);
  const t = tjs ? await concurrentThroughput(tjsRun) : null;
  if (i === 0) continue;
  engineConcurrent.push(e);
  slotConcurrent.push(sl);
  if (t !== null) tjsConcurrent.push(t);
}
row(`engine, ${concurrency} concurrent: output tok/s`, median(engineConcurrent).toFixed(1));
row(`engine (slot layout), ${concurrency} concurrent: output tok/s`, median(slotConcurrent).toFixed(1));
if (tjs) row(`transformers.js, ${concurrency} concurrent: output tok/s`, median(tjsConcurrent).toFixed(1));
await engine.shutdown();
await slotEngine.shutdown();

// --- peak RSS while a flood of long prompts waits for KV memory. Run at two
// flood sizes: with a real budget the peak does not grow with the flood.
const kvCacheMb = 64;
const promptTokens = 512;
const longPrompt = Array.from({ length: promptTokens }, (_, i) => 1000 + ((i * 7919) % 40000));
const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function floodRun(count: number): Promise<void> {
  const flood = await Engine.create({
    modelPath: slotDir,
    threads: session.intraOpThreads,
    interOpThreads: session.interOpThreads,
    kvCacheMb,
    maxRunningRequests: 256,
  });
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  let peakWaiting = 0;
  let peakRunning = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const s = flood.stats();
    peakWaiting = Math.max(peakWaiting, s.waiting);
    peakRunning = Math.max(peakRunning, s.running);
  }, 5);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: count }, async () => {
      for await (const chunk of await flood.generate({ inputIds: longPrompt, sampling: { temperature: 0, maxTokens: 8, ignoreEos: true } })) void chunk;
    }),
  );
  clearInterval(sampler);
  const seconds = (performance.now() - start) / 1000;
  const admittedAtOnce = (count * (promptTokens + 8) * flood.info.kvBytesPerToken) / 2 ** 20;
  await flood.shutdown();
  row(`flood of ${count} x ${promptTokens}-token prompts`, `${seconds.toFixed(1)} s, peak running ${peakRunning}, peak waiting ${peakWaiting}`);
  row('  RSS before -> peak', `${mb(rssBefore)} -> ${mb(peakRss)} (+${mb(peakRss - rssBefore)})`);
  row('  KV if every prompt were admitted at once', `${admittedAtOnce.toFixed(0)} MiB (budget ${kvCacheMb} MiB)`);
}

if (Number(opts.flood) > 0) {
  console.log('');
  await floodRun(Number(opts.flood));
  await floodRun(Number(opts.flood) * 2);
}

console.log('\nratios');
row('engine / bare onnxruntime loop, batch-1 decode', ratio(median(engineDecode), median(bareDecode), '>= 0.9x'));
row(`engine ${concurrency} concurrent / engine single stream, throughput`, ratio(median(engineConcurrent), median(engineSingle), '>= 4x'));
row(`slot layout / dense layout, ${concurrency} concurrent short prompts`, ratio(median(slotConcurrent), median(engineConcurrent), '>= 1x: no regression'));
if (tjs) {
  row('engine / transformers.js, single stream', ratio(median(engineSingle), median(tjsSingle), '>= 1x'));
  row(`engine / transformers.js, ${concurrency} concurrent`, ratio(median(engineConcurrent), median(tjsConcurrent), 'well above 1x'));
}
