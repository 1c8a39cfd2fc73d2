/**
 * Engine benchmark: decode speed against a bare onnxruntime loop and
 * @huggingface/transformers, batching gain under concurrency, and peak RSS
 * while a flood of long prompts waits for KV memory. Everything runs in one
 * process on the same model directory and session options, side by side.
 *
 *   npx tsx bench/engine.ts [--preset small|base] [--tokens 64] [--concurrency 16] [--threads N] [--flood N (0: skip)]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import { loadModelSpec } from '../src/lib/engine/model_dir.js';
import { timedGeneration } from '../src/lib/engine/timed_generation.js';
import { TextTokenizer } from '../src/lib/engine/tokenizer.js';
import { BareOrtLoop, TransformersJs } from './baselines.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'base' },
    tokens: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '16' },
    threads: { type: 'string', default: String(availableParallelism()) },
    flood: { type: 'string', default: '48' },
  },
});
const maxTokens = Number(opts.tokens);
const concurrency = Number(opts.concurrency);
const session = { intraOpThreads: Number(opts.threads), interOpThreads: 1 };
const PROMPTS = [
  'Hello, my name is',
  'The quick brown fox jumps over the lazy dog because',
  'In a distant galaxy, far beyond the reach of',
  'Once upon a time',
];
const greedy = { temperature: 0, maxTokens, ignoreEos: true };

const { dir } = presetModel(opts.preset!);
const spec = loadModelSpec(dir);
const tokenizer = new TextTokenizer(spec);
console.log(`model ${spec.id}, ${maxTokens} tokens per request, ${session.intraOpThreads} intra-op threads\n`);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const row = (name: string, value: string): void => {
  console.log(`${name.padEnd(52)} ${value}`);
};
const ratio = (a: number, b: number, target: string): string => `${(a / b).toFixed(2)}x   (target ${target})`;

// All three load up front; their runs alternate round by round so that
// warm-up and machine noise fall on each alike.
const bare = await BareOrtLoop.load(spec.onnxPath, session);
const engine = await Engine.create({ modelPath: dir, threads: session.intraOpThreads, interOpThreads: session.interOpThreads });
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
const tjsRun = async (prompt: string): Promise<number> => (await tjs!.generate(prompt, maxTokens), maxTokens);
const engineConcurrent: number[] = [];
const tjsConcurrent: number[] = [];
for (let i = 0; i < 3; i++) {
  const e = await concurrentThroughput(engineRun);
  const t = tjs ? await concurrentThroughput(tjsRun) : null;
  if (i === 0) continue;
  engineConcurrent.push(e);
  if (t !== null) tjsConcurrent.push(t);
}
row(`engine, ${concurrency} concurrent: output tok/s`, median(engineConcurrent).toFixed(1));
if (tjs) row(`transformers.js, ${concurrency} concurrent: output tok/s`, median(tjsConcurrent).toFixed(1));
await engine.shutdown();

// --- peak RSS while a flood of long prompts waits for KV memory. Run at two
// flood sizes: with a real budget the peak does not grow with the flood.
const kvCacheMb = 64;
const promptTokens = 512;
const longPrompt = Array.from({ length: promptTokens }, (_, i) => 1000 + ((i * 7919) % 40000));
const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function floodRun(count: number): Promise<void> {
  const flood = await Engine.create({ modelPath: dir, threads: session.intraOpThreads, interOpThreads: session.interOpThreads, kvCacheMb, maxRunningRequests: 256 });
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
  await Promise.all(Array.from({ length: count }, async () => {
    for await (const chunk of await flood.generate({ inputIds: longPrompt, sampling: { temperature: 0, maxTokens: 8, ignoreEos: true } })) void chunk;
  }));
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
if (tjs) {
  row('engine / transformers.js, single stream', ratio(median(engineSingle), median(tjsSingle), '>= 1x'));
  row(`engine / transformers.js, ${concurrency} concurrent`, ratio(median(engineConcurrent), median(tjsConcurrent), 'well above 1x'));
}
