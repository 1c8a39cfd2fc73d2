/**
 * The bench driver's own cost: requests per second it sustains against a
 * target that answers instantly (16 streamed chunks per request), so it is
 * never the bottleneck of `sgl bench`.
 *
 *   npx tsx bench/bench_driver.ts [--requests 20000] [--concurrency 64]
 */
import { parseArgs } from 'node:util';
import { BenchDriver } from '../src/lib/target/driver.js';
import { summarize } from '../src/lib/benchmark/statistics.js';
import type { BenchTarget } from '../src/lib/target/targets.js';
import type { RequestSpec } from '../src/lib/workload/request_spec.js';

const { values: opts } = parseArgs({ options: { requests: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '64' } } });
const N = Number(opts.requests);
const CHUNKS = 16;

const instant: BenchTarget = {
  name: 'instant',
  async send(spec, onChunk) {
    for (let i = 0; i < spec.outputTokens; i++) onChunk(performance.now());
    return { outputTokens: spec.outputTokens };
  },
};
const requests: RequestSpec[] = Array.from({ length: N }, (_, i) => ({ id: `r${i}`, inputIds: [1, 2, 3, 4], inputTokens: 4, outputTokens: CHUNKS }));
const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: Number(opts.concurrency), seed: 1, warmup: 0, replayArrivals: false });
await driver.run(instant, { name: 'warm-up', requests: requests.slice(0, 2000) });
const start = performance.now();
const run = await driver.run(instant, { name: 'instant', requests });
const wall = performance.now() - start;
const statsStart = performance.now();
summarize(run);
const statsMs = performance.now() - statsStart;
console.log(`${N} requests x ${CHUNKS} chunks against an instant target, concurrency ${opts.concurrency}`);
console.log(
  `driver: ${((N * 1000) / wall).toFixed(0)} requests/s, ${((wall * 1000) / N).toFixed(1)} us per request (${((wall * 1e6) / (N * CHUNKS)).toFixed(0)} ns per chunk)`,
);
console.log(`statistics over all of them: ${statsMs.toFixed(1)} ms`);
console.log('target: thousands of requests per second');
