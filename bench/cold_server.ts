/**
 * A freshly started server, benchmarked twice with the same command: how
 * far the first (cold) run's TTFT p50 is from the second's, with and
 * without bench's warm-up rounds (--warmup-max-s), and whether the first
 * run's report warns that its halves differ. Each case gets a fresh
 * `sgl serve` (built CLI: npm run build first).
 *
 *   npx tsx bench/cold_server.ts [--preset tiny] [--prompts 24] [--input 256] [--concurrency 4]
 */
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'tiny' },
    prompts: { type: 'string', default: '24' },
    input: { type: 'string', default: '256' },
    concurrency: { type: 'string', default: '4' },
  },
});
const BIN = resolve(import.meta.dirname, '../bin/run.js');
const { dir: modelDir } = presetModel(opts.preset!);

/** Starts `sgl serve` on a free port; resolves with its URL and a stop function. */
function serve(extra: string[]): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--model-path', modelDir, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((done, fail) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) done({ url: m[1], stop: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => fail(new Error(`sgl serve exited (${code}) before listening`)));
  });
}

interface Measured {
  ttftP50: number;
  warned: boolean;
  warmup: number;
  hitRate: number | null;
}

function bench(url: string, extra: string[]): Promise<Measured> {
  const args = ['bench', '--url', url, '--num-prompts', opts.prompts!, '--random-input-len', opts.input!, '--random-range-ratio', '1'];
  args.push('--random-output-len', '16', '--max-concurrency', opts.concurrency!, '--model-path', modelDir, '--json', ...extra);
  return new Promise((done, fail) =>
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 * 2 ** 20 }, (err, stdout) => {
      if (err) return fail(err);
      const r = JSON.parse(stdout) as {
        metrics: { ttft_ms: { median: number }; warmup: number; halves: { differs: boolean }[]; cache_hit_rate: number | null };
      };
      const m = r.metrics;
      done({ ttftP50: m.ttft_ms.median, warned: m.halves.some((h) => h.differs), warmup: m.warmup, hitRate: m.cache_hit_rate });
    }),
  );
}

const cases: [string, string[]][] = [
  ['2 warm-up copies only (--warmup 2)', ['--warmup', '2']],
  ['default: copies, then rounds until TTFT settles', []],
];
console.log(`Fresh sgl serve (${opts.preset}), bench --url twice: ${opts.prompts} requests of ${opts.input} tokens, concurrency ${opts.concurrency}\n`);
console.log('case | second run | warm-ups | first TTFT p50 | second TTFT p50 | first / second | second run prefix hits | first run warns');
console.log('---|---|---|---|---|---|---|---');
const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);
// The same command twice repeats the same prompts (same --seed): the second run finds them in the server's prefix cache.
// Run again with another seed to compare like with like.
const seconds: [string, string[], string[]][] = [
  ['same command', [], []],
  ['--seed 2', ['--seed', '2'], []],
  ['same command, server --disable-prefix-cache', [], ['--disable-prefix-cache']],
];
for (const [name, extra] of cases) {
  for (const [again, second, serverArgs] of seconds) {
    const server = await serve(serverArgs);
    try {
      const cold = await bench(server.url, extra);
      const warm = await bench(server.url, [...extra, ...second]);
      const ratio = cold.ttftP50 / warm.ttftP50;
      const cells = [
        name,
        again,
        cold.warmup,
        `${cold.ttftP50.toFixed(1)} ms`,
        `${warm.ttftP50.toFixed(1)} ms`,
        ratio.toFixed(2),
        pct(warm.hitRate),
        cold.warned ? 'yes' : 'no',
      ];
      console.log(cells.join(' | '));
    } finally {
      server.stop();
    }
  }
}
