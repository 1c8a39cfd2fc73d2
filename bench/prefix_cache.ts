/**
 * What the prefix cache buys: SGLang's generated-shared-prefix workload (8
 * groups × 16 prompts sharing a 512-token system prompt, 32-token questions,
 * 32-token outputs) through `sgl bench` on each preset, with the cache on
 * and off, side by side. Prints TTFT p50, throughput and the hit rate, the
 * TTFT ratio (target: at most 0.3), and the hit rate against the analytical
 * share of reusable prompt tokens (every prompt's system prompt but the
 * first of its group; target: within one point).
 *
 *   npm run build && npx tsx bench/prefix_cache.ts [--presets small,base] [--rate small=2,base=0.5]
 *
 * Warm-ups are off: a warm-up copy would put a group's system prompt in the
 * cache before the run and lift the hit rate above the analytical share.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { presetModel } from './preset.js';
import { GSP_DEFAULTS } from '../src/lib/workload/load_workload.js';
import { sharedPrefixWorkload } from '../src/lib/workload/random_workload.js';

const { values: opts } = parseArgs({ options: { presets: { type: 'string', default: 'small,base' }, rate: { type: 'string', default: 'small=2,base=0.5' } } });
const ROOT = resolve(import.meta.dirname, '..');
const rates = new Map(opts.rate!.split(',').map((kv) => kv.split('=') as [string, string]));

interface Metrics {
  completed: number;
  failed: number;
  ttft_ms: { median: number };
  total_throughput: number;
  cache_hit_rate: number | null;
}

const sgl = (args: string[]): Metrics =>
  (
    JSON.parse(
      execFileSync(process.execPath, [join(ROOT, 'bin/run.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] }),
    ) as { metrics: Metrics }
  ).metrics;

// The analytical share depends only on the sizes (the token ids do not matter).
const analytical = sharedPrefixWorkload({ ...GSP_DEFAULTS, seed: 1, vocabSize: 1000 }).reusableShare;
for (const name of opts.presets!.split(',')) {
  const { dir } = presetModel(name);
  const rate = rates.get(name) ?? '1';
  const run = (extra: string[]): Metrics =>
    sgl(['bench', '--model-path', dir, '--dataset', 'generated-shared-prefix', '--request-rate', rate, '--warmup', '0', '--json', ...extra]);
  const on = run([]);
  const off = run(['--disable-prefix-cache']);
  const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(2)}%`);
  console.log(
    `\n${name} preset, generated-shared-prefix (${GSP_DEFAULTS.groups} groups × ${GSP_DEFAULTS.promptsPerGroup} prompts, system prompt ${GSP_DEFAULTS.systemPromptLen}, question ${GSP_DEFAULTS.questionLen}, output ${GSP_DEFAULTS.outputLen}) at ${rate} req/s`,
  );
  console.log('                      cache on   cache off');
  console.log(`TTFT p50 (ms)      ${on.ttft_ms.median.toFixed(1).padStart(11)} ${off.ttft_ms.median.toFixed(1).padStart(11)}`);
  console.log(`throughput (tok/s) ${on.total_throughput.toFixed(1).padStart(11)} ${off.total_throughput.toFixed(1).padStart(11)}`);
  console.log(`hit rate           ${pct(on.cache_hit_rate).padStart(11)} ${pct(off.cache_hit_rate).padStart(11)}`);
  console.log(`completed / failed ${`${on.completed} / ${on.failed}`.padStart(11)} ${`${off.completed} / ${off.failed}`.padStart(11)}`);
  const ratio = on.ttft_ms.median / off.ttft_ms.median;
  console.log(`TTFT p50 on ÷ off: ${ratio.toFixed(3)} (target at most 0.3: ${ratio <= 0.3 ? 'met' : 'MISSED'})`);
  const gap = on.cache_hit_rate === null ? Infinity : Math.abs(on.cache_hit_rate - analytical);
  console.log(
    `hit rate ${pct(on.cache_hit_rate)} against the analytical ${pct(analytical)} of reusable prompt tokens (target within 1 point: ${gap <= 0.01 ? 'met' : 'MISSED'})`,
  );
}
