/**
 * How finely two configurations can be told apart on this machine by the
 * best design available: two engines, both tracing off, loaded side by side
 * and kept warm, serving alternating blocks of the same workload (order
 * flipped every block). Their throughput ratio should be 1; its spread per
 * block pair is the noise any paired overhead measurement fights, and the
 * half-width it reaches says how long a 0.5% check would take.
 *
 *   npx tsx bench/paired_noise.ts [--preset small] [--blocks 20] [--requests 16] [--concurrency 8] [--tokens 32]
 */
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import { meanCi } from '../src/lib/stats/distribution.js';
import { createTracing } from '../src/lib/tracing/tracing_setup.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    blocks: { type: 'string', default: '20' },
    requests: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '32' },
  },
});
const { preset, dir } = presetModel(opts.preset!);
const blocks = Number(opts.blocks);
const requests = Number(opts.requests);
const concurrency = Number(opts.concurrency);
const tokens = Number(opts.tokens);
const PROMPTS = ['Hello, my name is', 'The quick brown fox jumps over', 'In a distant galaxy', 'Once upon a time'];

async function start(): Promise<Engine> {
  const tracing = await createTracing({ level: 0, modules: ['request'], sampleRate: 1, includeContent: false });
  return Engine.create({ modelPath: dir, tracing });
}

/** Output tokens per second over `n` requests at the run's concurrency. */
async function block(engine: Engine, n: number): Promise<{ throughput: number; seconds: number }> {
  let produced = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        for await (const ch of await engine.generate({
          prompt: `${PROMPTS[i % PROMPTS.length]} ${i}`,
          sampling: { maxTokens: tokens, temperature: 0, ignoreEos: true },
        }))
          produced += ch.tokenIds.length;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { throughput: produced / seconds, seconds };
}

const engines = [await start(), await start()];
for (const e of engines) await block(e, concurrency);
const ratios: number[] = [];
let seconds = 0;
for (let b = 0; b < blocks; b++) {
  const order = b % 2 ? [1, 0] : [0, 1];
  const got: number[] = [];
  for (const k of order) {
    const r = await block(engines[k], requests);
    got[k] = r.throughput;
    seconds += r.seconds;
  }
  ratios.push(got[1] / got[0]);
}
for (const e of engines) await e.shutdown();

const m = meanCi(ratios);
const sd = Math.sqrt(ratios.reduce((a, v) => a + (v - m.mean) ** 2, 0) / (ratios.length - 1));
const perBlock = seconds / (2 * blocks);
// Pairs for a 0.5-point half-width: (t · sd / 0.005)², t ≈ 2 for many pairs.
const pairs = ((2 * sd) / 0.005) ** 2;
console.log(`${preset}: ${blocks} block pairs of ${requests} requests x ${tokens} tokens at concurrency ${concurrency}, ${perBlock.toFixed(2)} s a block`);
console.log(`ratio of two identical engines: ${((m.mean - 1) * 100).toFixed(2)}% ± ${(m.ci95 * 100).toFixed(2)} (sd per pair ${(sd * 100).toFixed(2)}%)`);
console.log(`a half-width of 0.5% would take about ${pairs.toFixed(0)} pairs, ${((pairs * 2 * perBlock) / 60).toFixed(0)} minutes of blocks`);
