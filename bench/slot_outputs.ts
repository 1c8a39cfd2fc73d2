/**
 * What the slot layout's reused buffers save on the CPU, side by side in one
 * process on one runner: a slot run's outputs (each row's logits and new
 * K/V) fetched into arrays kept run to run against plain fetches (a fresh
 * array per output and run, whose pages fault on their first write), and a
 * prefill chunk's copy of the past (`SlotCache.prefix`) into kept arrays
 * against fresh ones. Rounds alternate; medians.
 *
 *   npx tsx bench/slot_outputs.ts [--preset base] [--past 1000] [--chunk 1024] [--rows 1,8,32] [--rounds 15] [--threads N]
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SlotCache, copySlot } from '../src/lib/engine/kv/slot_cache.js';
import { ModelRunner } from '../src/lib/engine/onnx/model_runner.js';
import { median } from '../src/lib/stats/regression.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'base' },
    past: { type: 'string', default: '1000' },
    chunk: { type: 'string', default: '1024' },
    rows: { type: 'string', default: '1,8,32' },
    rounds: { type: 'string', default: '15' },
    threads: { type: 'string' },
  },
});
const past = Number(opts.past);
const chunk = Number(opts.chunk);
const rounds = Number(opts.rounds);
const rowCounts = opts.rows!.split(',').map(Number);
const maxRows = Math.max(...rowCounts);
const threads = Number(opts.threads ?? availableParallelism());
const { dir } = presetModel(opts.preset!);
const runner = await ModelRunner.load({
  onnxPath: join(dir, 'onnx/model.onnx'),
  device: 'cpu',
  intraOpThreads: threads,
  interOpThreads: 1,
  contextLength: past + chunk + 1,
  kvCacheBytes: 0,
  limits: { maxRunningRequests: maxRows, maxPrefillTokens: chunk },
  timeOrigin: performance.timeOrigin,
  traceModules: [],
  prefixCache: false,
});
if (runner.io.layout !== 'slots') throw new Error(`${dir} is not a slot model`);
const { kvHeads, headDim } = runner.io;
const capacity = past + chunk + 1;
const cache = new SlotCache(runner, maxRows, capacity, maxRows * capacity);
cache.reserve(maxRows, capacity, []);
for (const d of cache.data) d.fill(0.01);

/** One slot run of `rows` rows, `seq` new tokens each on top of `held` cached ones. */
async function run(rows: number, seq: number, held: number, reuse: boolean): Promise<number> {
  const ids = new BigInt64Array(rows * seq).fill(5n);
  const positions = new BigInt64Array(rows * seq);
  for (let b = 0; b < rows; b++) for (let j = 0; j < seq; j++) positions[b * seq + j] = BigInt(held + j);
  const lengths = new BigInt64Array(rows).fill(BigInt(held));
  const lastIndex = new BigInt64Array(rows).fill(BigInt(seq - 1));
  runner.reuseOutputs = reuse;
  const t = performance.now();
  const out = await runner.forwardSlots({
    batch: rows,
    seq,
    inputIds: ids,
    positionIds: positions,
    cacheLengths: lengths,
    lastIndex,
    past: cache.view(0, rows),
  });
  cache.write(
    out.present,
    0,
    rows,
    seq,
    null,
    Array.from({ length: rows }, () => held),
  );
  return performance.now() - t;
}

/** The old `prefix`: the same copy into fresh arrays. */
function freshPrefix(rows: number, held: number): number {
  const t = performance.now();
  for (const d of cache.data) {
    const out = runner.newKvData(rows * kvHeads * held * headDim);
    for (let r = 0; r < rows; r++) copySlot(d, r, cache.capacity, out, r, held, held, kvHeads, headDim);
  }
  return performance.now() - t;
}
function keptPrefix(rows: number, held: number): number {
  const t = performance.now();
  cache.prefix(0, rows, held);
  return performance.now() - t;
}

const cases: { label: string; fresh: () => Promise<number> | number; kept: () => Promise<number> | number }[] = [
  ...rowCounts.map((r) => ({ label: `decode step, ${r} row(s) at ${past} tokens`, fresh: () => run(r, 1, past, false), kept: () => run(r, 1, past, true) })),
  { label: `prefill chunk, 1 row, ${chunk} tokens on ${past}`, fresh: () => run(1, chunk, past, false), kept: () => run(1, chunk, past, true) },
  { label: `prefill chunk's past copy, 1 row of ${past}`, fresh: () => freshPrefix(1, past), kept: () => keptPrefix(1, past) },
];
console.log(`${opts.preset} preset, ${threads} thread(s), ${rounds} rounds alternating (medians):`);
console.log('case'.padEnd(46), 'fresh arrays'.padStart(13), 'kept arrays'.padStart(12), 'kept ÷ fresh'.padStart(13));
for (const c of cases) {
  await c.fresh();
  await c.kept();
  const fresh: number[] = [];
  const kept: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Each round starts on the other side, so a drift in the machine's speed falls on both.
    if (i % 2) {
      kept.push(await c.kept());
      fresh.push(await c.fresh());
    } else {
      fresh.push(await c.fresh());
      kept.push(await c.kept());
    }
  }
  const f = median(fresh);
  const k = median(kept);
  console.log(c.label.padEnd(46), `${f.toFixed(2)} ms`.padStart(13), `${k.toFixed(2)} ms`.padStart(12), `${(k / f).toFixed(3)}×`.padStart(13));
}
await runner.release();
