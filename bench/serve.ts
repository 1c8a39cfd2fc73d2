/**
 * HTTP overhead: the same workload (N streamed completions, C at a time)
 * through `sgl serve` over HTTP server-sent events and through the
 * in-process engine, rounds interleaved. Prints mean and p99 end-to-end
 * latency and output tokens/s side by side, and their ratios.
 *
 *   npx tsx bench/serve.ts [--preset base] [--requests 32] [--concurrency 8] [--tokens 64] [--rounds 3]
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'base' },
    requests: { type: 'string', default: '32' },
    concurrency: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const { preset, dir: modelDir } = presetModel(opts.preset!);
const N = Number(opts.requests);
const C = Number(opts.concurrency);
const maxTokens = Number(opts.tokens);
const PROMPTS = ['Hello, my name is', 'The quick brown fox jumps over', 'In a distant galaxy', 'Once upon a time'];

interface Run {
  e2eMs: number[];
  tokens: number;
  wallMs: number;
}

/** Runs N requests, C at a time; `one` returns [e2e ms, output tokens]. */
async function drive(one: (prompt: string) => Promise<[number, number]>): Promise<Run> {
  const e2eMs: number[] = [];
  let tokens = 0;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < N) {
        const [ms, n] = await one(PROMPTS[next++ % PROMPTS.length]);
        e2eMs.push(ms);
        tokens += n;
      }
    }),
  );
  return { e2eMs, tokens, wallMs: performance.now() - start };
}

const sampling = { maxTokens, temperature: 0, ignoreEos: true };

async function inProcess(engine: Engine, prompt: string): Promise<[number, number]> {
  const t0 = performance.now();
  let n = 0;
  for await (const c of await engine.generate({ prompt, sampling })) n += c.tokenIds.length;
  return [performance.now() - t0, n];
}

async function overHttp(url: string, prompt: string): Promise<[number, number]> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  const text = await res.text();
  const usage = /"completion_tokens":(\d+)/.exec(text);
  return [performance.now() - t0, usage ? Number(usage[1]) : 0];
}

// The server runs as its own process, as users run it; the same model and engine settings.
const child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/run.js'), 'serve', '--port', '0', '--model-path', modelDir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((done) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
    if (m) done(m[1]);
  });
});
const engine = await Engine.create({ modelPath: modelDir });

await drive((p) => inProcess(engine, p));
await drive((p) => overHttp(url, p));
const runs = { engine: [] as Run[], http: [] as Run[] };
for (let r = 0; r < Number(opts.rounds); r++) {
  const order = r % 2 === 0 ? (['engine', 'http'] as const) : (['http', 'engine'] as const);
  for (const kind of order) runs[kind].push(await drive((p) => (kind === 'engine' ? inProcess(engine, p) : overHttp(url, p))));
}
await engine.shutdown();
child.kill('SIGTERM');

const summary = (rs: Run[]): { mean: number; p99: number; tps: number } => {
  const all = rs.flatMap((r) => r.e2eMs).sort((a, b) => a - b);
  return {
    mean: all.reduce((a, b) => a + b, 0) / all.length,
    p99: all[Math.min(all.length - 1, Math.ceil(all.length * 0.99) - 1)],
    tps: (rs.reduce((a, r) => a + r.tokens, 0) * 1000) / rs.reduce((a, r) => a + r.wallMs, 0),
  };
};
const e = summary(runs.engine);
const h = summary(runs.http);
const row = (name: string, a: string, b: string, ratio: string): void =>
  console.log(`${name.padEnd(24)}${a.padStart(14)}${b.padStart(14)}${ratio.padStart(12)}`);
console.log(`model ${preset}, ${N} requests x ${maxTokens} tokens, ${C} concurrent, ${opts.rounds} interleaved rounds (HTTP: streamed SSE to sgl serve)\n`);
row('', 'in-process', 'HTTP', 'HTTP/engine');
row('mean e2e latency (ms)', e.mean.toFixed(1), h.mean.toFixed(1), `${(h.mean / e.mean).toFixed(3)}x`);
row('p99 e2e latency (ms)', e.p99.toFixed(1), h.p99.toFixed(1), `${(h.p99 / e.p99).toFixed(3)}x`);
row('output tokens/s', e.tps.toFixed(1), h.tps.toFixed(1), `${(h.tps / e.tps).toFixed(3)}x`);
console.log('\ntarget: HTTP adds at most 5% (latency ratios <= 1.05x, throughput ratio >= 0.95x)');
