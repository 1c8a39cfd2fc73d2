/**
 * How noisy one --compare-trace-levels run is on this machine, and so how
 * many rounds a --target-ci needs: throughput of the same workload over 12
 * fresh engines, per workload size, as bench's compare runs it.
 *
 *   npx tsx bench/level_noise.ts [prompts per run ...]   (default 16 50 100 200)
 */
import { EngineSession } from '../src/lib/target/engine_session.js';
import { EngineTarget } from '../src/lib/target/engine_target.js';
import { BenchDriver } from '../src/lib/target/driver.js';
import { summarize } from '../src/lib/benchmark/statistics.js';
import { loadWorkload } from '../src/lib/workload/load_workload.js';
import { loadModelSpec } from '../src/lib/engine/model_dir.js';
import { TextTokenizer } from '../src/lib/engine/tokenizer/tokenizer.js';
const spec = loadModelSpec(undefined);
const tok = new TextTokenizer(spec);
const setup = { level: 0 as const, modules: ['request' as const], sampleRate: 1, includeContent: false };
const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [16, 50, 100, 200];
for (const n of sizes) {
  const workload = loadWorkload(
    { dataset: 'random', count: n, seed: 1, inputLen: 64, outputLen: 32, rangeRatio: 0.5 },
    { vocabSize: spec.vocabSize ?? 32000, specialIds: spec.eosTokenIds, encode: (t) => tok.encode(t, false), decode: (ids) => tok.decode(ids) },
  );
  const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: Infinity, seed: 1, warmup: 2, replayArrivals: false });
  const xs: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 12; i++) {
    const e = await EngineSession.start({}, setup);
    const t = new EngineTarget(e.engine);
    await e.untraced(() => driver.warmup(t, workload));
    xs.push(summarize(await driver.run(t, workload)).output_throughput);
    await e.close();
  }
  const per = (performance.now() - t0) / 12;
  const m = xs.reduce((a, b) => a + b) / xs.length;
  const cv = Math.sqrt(xs.reduce((a, v) => a + (v - m) ** 2, 0) / (xs.length - 1)) / m;
  // A ratio of two runs has about √2 times one run's spread; its 95% half-width after r rounds is t·sd/√r (t ≈ 2.05).
  const rounds = (pct: number): number => Math.max(3, ((2.05 * Math.SQRT2 * cv) / pct) ** 2);
  const secs = (pct: number): string => ((rounds(pct) * 4 * per) / 1000).toFixed(0);
  console.log(
    `${n} prompts: ${per.toFixed(0)} ms a run (engine start included), throughput spread ${(cv * 100).toFixed(1)}% run to run; 4 levels to ±5%: ~${rounds(0.05).toFixed(0)} rounds, ${secs(0.05)} s; to ±2%: ~${rounds(0.02).toFixed(0)} rounds, ${secs(0.02)} s`,
  );
}
