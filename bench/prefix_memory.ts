/**
 * What the prefix cache costs in memory: the same stream of distinct long
 * prompts (each inserted into the cache, which fills it past the budget and
 * makes it evict) through an engine with the cache on and one with it off,
 * each in a process of its own, on the slot layout. The engine's KV budget
 * (`--kv-cache-mb`) is the memory its KV may take; the slot cache is
 * resident for all of it once warm, and the prefix cache keeps its pages
 * inside it, so the cache on should add no memory. Prints each process's
 * RSS once warm and at its peak, the KV the cache held, and the ratio of
 * the peaks (target: cache on ÷ off at most 1.1; the cache's own arrays beside
 * the budget made it 1 + budget ÷ the off peak, 1.4 at the defaults here).
 *
 *   npx tsx bench/prefix_memory.ts [--preset base] [--kv-cache-mb 512] [--prompts 48] [--prompt-tokens 1000] [--concurrency 4]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import { Rng } from '../src/lib/stats/rng.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'base' },
    'kv-cache-mb': { type: 'string', default: '512' },
    prompts: { type: 'string', default: '48' },
    'prompt-tokens': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    child: { type: 'string' },
  },
});

interface Run {
  cache: boolean;
  warmMiB: number;
  peakMiB: number;
  cacheMiB: number;
}

async function child(cache: boolean): Promise<Run> {
  const { dir } = presetModel(opts.preset!);
  const engine = await Engine.create({ modelPath: dir, kvCacheMb: Number(opts['kv-cache-mb']), disablePrefixCache: !cache });
  await engine.warm;
  const rng = new Rng(7);
  const warmRss = process.memoryUsage().rss;
  let peak = warmRss;
  let cacheTokens = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
    cacheTokens = Math.max(cacheTokens, engine.stats().cacheTokens);
  }, 20);
  let next = 0;
  const prompts = Number(opts.prompts);
  const tokens = Number(opts['prompt-tokens']);
  await Promise.all(
    Array.from({ length: Number(opts.concurrency) }, async () => {
      while (next < prompts) {
        next++;
        const inputIds = Array.from({ length: tokens }, () => 1000 + Math.floor(rng.next() * 40000));
        for await (const chunk of await engine.generate({ inputIds, sampling: { temperature: 0, maxTokens: 8, ignoreEos: true } })) void chunk;
      }
    }),
  );
  clearInterval(sampler);
  const mib = (b: number): number => b / 2 ** 20;
  const run = {
    cache,
    warmMiB: mib(warmRss),
    peakMiB: mib(Math.max(peak, process.memoryUsage().rss)),
    cacheMiB: mib(cacheTokens * engine.info.kvBytesPerToken),
  };
  await engine.shutdown();
  return run;
}

if (opts.child) {
  console.log(JSON.stringify(await child(opts.child === 'on')));
} else {
  const args = process.argv.slice(2);
  const runs = ['on', 'off'].map((c) => {
    const out = execFileSync(process.execPath, [...process.execArgv, import.meta.filename, ...args, '--child', c], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').at(-1)!) as Run;
  });
  console.log(
    `${opts.preset} preset, --kv-cache-mb ${opts['kv-cache-mb']}, ${opts.prompts} distinct prompts of ${opts['prompt-tokens']} tokens, ${opts.concurrency} at a time, 8 output tokens:`,
  );
  for (const r of runs)
    console.log(
      `  prefix cache ${r.cache ? 'on ' : 'off'}: RSS ${r.warmMiB.toFixed(0)} MiB once warm, peak ${r.peakMiB.toFixed(0)} MiB; the cache held up to ${r.cacheMiB.toFixed(0)} MiB of KV`,
    );
  const ratio = runs[0].peakMiB / runs[1].peakMiB;
  console.log(`peak RSS, cache on ÷ off: ${ratio.toFixed(3)} (target at most 1.1: ${ratio <= 1.1 ? 'met' : 'MISSED'})`);
}
