/**
 * The tracing overhead budget: throughput, TTFT and TPOT of the engine with
 * tracing on, as ratios to tracing off, for trace levels 1-3 x head sample
 * rates x exporters (none, trace file, OTLP http/protobuf to a receiver in
 * this process; `otlp-main` sends it from the main thread instead of the
 * exporter thread, for comparison), and level 3 with tail sampling keeping 1% (--trace-keep
 * rate:0.01). Runs are interleaved: every round runs every configuration
 * once, in a rotated order, each on a fresh engine, and each ratio is taken
 * within its round, so drift on a noisy machine cancels; the ratios' 95%
 * confidence intervals come from the rounds. Also prints ns per
 * instrumentation point and bytes exported per request.
 *
 * Throughput on a shared 2-core VM moves by 10-30% run to run, far more
 * than the budget (1%, half-width 0.5%) it is checked against. So a second
 * part accounts for the CPU instead: the level-3 requests of a real run are
 * replayed through a real tracing hub (every record written as the engine's
 * threads write it, the worker's records cloned as its message is, the
 * request assembled, the keep rule applied, the kept ones exported), and
 * the process CPU this costs per request, times the rate at which tracing-off
 * runs finish requests, bounds the throughput tracing can take: it assumes
 * every nanosecond of it lands on the critical path. These are
 * microbenchmarks with tight intervals; what they leave out (cache
 * pollution of the engine's own work) is said with the figure.
 *
 *   npx tsx bench/overhead.ts [--preset small] [--rounds 5] [--requests 32] [--concurrency 8] [--tokens 32]
 *                             [--levels 1,2,3] [--rates 0.01,0.1,1] [--exporters none,file,otlp] [--modules request]
 *                             [--accounting-reps 10]
 *
 * `--rounds 0` runs only the accounting (with one tracing-off run for the rate).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../src/lib/engine/engine.js';
import { createOtlpExporter } from '../src/lib/tracing/exporters/otlp_exporter.js';
import { parseKeepRules } from '../src/lib/tracing/keep_rules.js';
import { S } from '../src/lib/tracing/stages.js';
import { parseModules, traceMask } from '../src/lib/tracing/trace_config.js';
import type { TraceLevel } from '../src/lib/tracing/trace_config.js';
import { TraceMetricContext } from '../src/lib/tracing/trace_context.js';
import { createTracing } from '../src/lib/tracing/tracing_setup.js';
import { meanCi } from '../src/lib/stats/distribution.js';
import type { MeanCi } from '../src/lib/stats/distribution.js';
import { MemoryExporter } from '../src/lib/tracing/exporters/memory_exporter.js';
import type { FinishedRequest } from '../src/lib/tracing/finished_request.js';
import { KIND_EVENT, RECORD } from '../src/lib/tracing/records.js';
import type { Tracing } from '../src/lib/tracing/tracing.js';
import type { TraceMask } from '../src/lib/tracing/trace_config.js';
import type { RequestInfo } from '../src/lib/tracing/request_trace.js';
import { OtlpReceiver } from '../test/helpers/otlp_receiver.js';
import { presetModel } from './preset.js';

const { values: opts } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '32' },
    concurrency: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '32' },
    levels: { type: 'string', default: '1,2,3' },
    rates: { type: 'string', default: '0.01,0.1,1' },
    exporters: { type: 'string', default: 'none,file,otlp' },
    modules: { type: 'string', default: 'request' },
    'accounting-reps': { type: 'string', default: '10' },
  },
});
const MODULES = parseModules(opts.modules!);
/** `otlp` is the live path (its own thread); `otlp-main` builds and sends spans on the main thread, as sgl did before. */
type Exporter = 'none' | 'file' | 'otlp' | 'otlp-main';
interface Config {
  name: string;
  level: TraceLevel;
  rate: number;
  exporter: Exporter;
  keep?: string;
}

const configs: Config[] = [{ name: 'off', level: 0, rate: 1, exporter: 'none' }];
for (const level of opts.levels!.split(',').map(Number) as TraceLevel[]) {
  for (const rate of opts.rates!.split(',').map(Number)) {
    for (const exporter of opts.exporters!.split(',') as Exporter[]) configs.push({ name: `L${level} rate ${rate} ${exporter}`, level, rate, exporter });
  }
}
for (const exporter of (opts.exporters!.split(',') as Exporter[]).filter((e) => e !== 'none')) {
  configs.push({ name: `L3 keep rate:0.01 ${exporter}`, level: 3, rate: 1, exporter, keep: 'rate:0.01' });
}

const { preset, dir: modelDir } = presetModel(opts.preset!);
const requests = Number(opts.requests);
const concurrency = Number(opts.concurrency);
const tokens = Number(opts.tokens);
const dir = mkdtempSync(join(tmpdir(), 'sgl-overhead-'));
const receiver = await OtlpReceiver.startHttp({ countOnly: true });
const PROMPTS = ['Hello, my name is', 'The quick brown fox jumps over', 'In a distant galaxy', 'Once upon a time'];

interface RunFigures {
  throughput: number;
  ttft: number;
  tpot: number;
  /** Bytes the exporter wrote or sent, per request (0 without one). */
  bytesPerRequest: number;
}

/** The tracing hub a configuration asks for: `file` is its trace file, OTLP goes to the in-process receiver (otlp-main is added by the caller). */
function tracingFor(c: Omit<Config, 'name'>, file: string): Promise<Tracing> {
  return createTracing({
    level: c.level,
    modules: [...MODULES],
    sampleRate: c.rate,
    includeContent: false,
    ...(c.exporter === 'file' ? { traceFile: file } : {}),
    ...(c.exporter === 'otlp' ? { otlpEndpoint: `${receiver.url}/v1/traces`, otlpProtocol: 'http/protobuf' as const } : {}),
    ...(c.keep ? { keep: parseKeepRules(c.keep) } : {}),
  });
}

/** One run: a fresh engine traced as `c` says, a warm-up, then `requests` requests at `concurrency`, timed by the caller. */
async function runOnce(c: Config, round: number, capture?: MemoryExporter): Promise<RunFigures> {
  const file = join(dir, `${round}-${configs.indexOf(c)}.json`);
  const tracing = await tracingFor(c, file);
  if (c.exporter === 'otlp-main')
    tracing.addExporter(await createOtlpExporter({ protocol: 'http/protobuf', url: `${receiver.url}/v1/traces`, from: 'flag' }, tracing.metrics));
  if (capture) tracing.addExporter(capture);
  const engine = await Engine.create({ modelPath: modelDir, tracing });
  const one = async (i: number): Promise<{ n: number; ttft: number; e2e: number }> => {
    const t0 = performance.now();
    let first = 0;
    let n = 0;
    for await (const ch of await engine.generate({
      prompt: PROMPTS[i % PROMPTS.length] + ` ${i}`,
      sampling: { maxTokens: tokens, temperature: 0, ignoreEos: true },
    })) {
      if (ch.tokenIds.length && n === 0) first = performance.now();
      n += ch.tokenIds.length;
    }
    return { n, ttft: first - t0, e2e: performance.now() - t0 };
  };
  const pool = async (count: number, offset: number): Promise<{ n: number; ttft: number; e2e: number }[]> => {
    const out: { n: number; ttft: number; e2e: number }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) out.push(await one(offset + next++));
      }),
    );
    return out;
  };
  await pool(concurrency, 10000);
  const bytesBefore = receiver.bytes;
  const start = performance.now();
  const done = await pool(requests, 0);
  const seconds = (performance.now() - start) / 1000;
  await engine.shutdown();
  await tracing.shutdown();
  const bytes = c.exporter === 'file' ? statSync(file).size : c.exporter.startsWith('otlp') ? receiver.bytes - bytesBefore : 0;
  // The warm-up requests are exported too (level > 0): bytes are per exported request of both.
  const total = requests + concurrency;
  if (c.exporter === 'file') rmSync(file, { force: true });
  return {
    throughput: done.reduce((a, r) => a + r.n, 0) / seconds,
    ttft: done.reduce((a, r) => a + r.ttft, 0) / done.length,
    tpot: done.reduce((a, r) => a + (r.e2e - r.ttft) / (r.n - 1), 0) / done.length,
    bytesPerRequest: bytes / total,
  };
}

/** ns per slice boundary recorded at level 3 (the hot path alone), as bench/tracing.ts measures it in full. */
function nsPerPoint(): number {
  const mask = traceMask(3, MODULES, false);
  const once = (): void => {
    const ctx = new TraceMetricContext(mask);
    ctx.begin(S.decode_loop);
    for (let i = 0; i < 200; i++) {
      ctx.begin(S.decode_forward);
      ctx.end(S.decode_forward);
    }
    ctx.end(S.decode_loop);
  };
  for (let i = 0; i < 500; i++) once();
  const t = process.hrtime.bigint();
  for (let i = 0; i < 2000; i++) once();
  return Number(process.hrtime.bigint() - t) / (2000 * 402);
}

/** Process CPU (all threads: the hub, file writes, the OTLP exporter thread, the in-process receiver) per replayed request, in µs. */
async function accountingRep(
  tracing: Tracing,
  captured: readonly FinishedRequest[],
  infos: readonly RequestInfo[],
  workerMask: TraceMask,
  count: number,
): Promise<number> {
  const cpu = process.cpuUsage();
  for (let i = 0; i < count; i++) replayRequest(tracing, captured[i % captured.length], infos[i % infos.length], workerMask);
  await tracing.flush();
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / count;
}

/**
 * What tracing does for one request in the engine, without the engine: the
 * main thread's records written through its context, the worker's through a
 * context of its own (then cloned, as its message to the main thread is),
 * a token callback per output token, and the request completed through the
 * hub (assembly, keep rule, export).
 */
function replayRequest(tracing: Tracing, q: FinishedRequest, info: RequestInfo, workerMask: TraceMask): void {
  const trace = tracing.startRequest(null, q.start);
  trace.describe(info);
  const replay = (
    records: Float64Array,
    ctx: { begin(s: number, t: number): void; end(s: number, t: number): void; event(e: number, t: number, a: number, b: number): void },
  ): void => {
    for (let i = 0; i < records.length; i += RECORD) {
      if (records[i] === KIND_EVENT) ctx.event(records[i + 1], records[i + 2], records[i + 5], records[i + 6]);
      else {
        ctx.begin(records[i + 1], records[i + 2]);
        ctx.end(records[i + 1], records[i + 3]);
      }
    }
  };
  replay(q.main, trace.main);
  trace.workerContext(q.start);
  const worker = new TraceMetricContext(workerMask, 64);
  replay(q.worker, worker);
  for (let k = 0; k < q.workload.outputTokens; k++) trace.onToken(q.start + k);
  trace.workerDone(structuredClone(worker.records()));
  trace.mainDone(q.workload.finishReason, q.workload.outputTokens, '', q.end);
}

/** The accounting: level-3 requests of a real run, replayed per configuration; µs of CPU per request, with a 95% CI over repetitions. */
async function accounting(reqPerSecond: MeanCi): Promise<void> {
  const capture = new MemoryExporter();
  await runOnce({ name: 'capture', level: 3, rate: 1, exporter: 'none' }, -1, capture);
  const captured = capture.requests;
  const infos: RequestInfo[] = captured.map((q, i) => ({
    rid: `acct-${i}`,
    inputIds: new Array<number>(q.workload.inputTokens).fill(0),
    sampling: { ...q.workload.sampling, stop: [] },
    chat: false,
  }));
  const points =
    captured.reduce((a, q) => {
      let n = 0;
      for (const records of [q.main, q.worker]) for (let i = 0; i < records.length; i += RECORD) n += records[i] === KIND_EVENT ? 1 : 2;
      return a + n;
    }, 0) / captured.length;
  const workerMask = traceMask(3, MODULES, false);
  const reps = Number(opts['accounting-reps']);
  const count = 2000;
  const cases: { name: string; keep?: string; exporter: Exporter }[] = [
    { name: 'L3 rate 1 none (recording only)', exporter: 'none' },
    { name: 'L3 keep rate:0.01 file', keep: 'rate:0.01', exporter: 'file' },
    { name: 'L3 keep rate:0.01 otlp', keep: 'rate:0.01', exporter: 'otlp' },
    { name: 'L3 rate 1 file', exporter: 'file' },
    { name: 'L3 rate 1 otlp', exporter: 'otlp' },
  ];
  console.log(
    `\nCPU accounting: ${captured.length} level-3 requests of a real run (${points.toFixed(0)} instrumentation points each, both threads), replayed ${count} at a time, ${reps} repetitions per configuration.`,
  );
  console.log(
    `Tracing off finished ${reqPerSecond.mean.toFixed(2)} ± ${reqPerSecond.ci95.toFixed(2)} requests/s; the bound is the tracing CPU per second at that rate (as a share of one core: every nanosecond of it on the critical path).\n`,
  );
  console.log(`| configuration | CPU per request | bound on throughput loss |`);
  console.log(`|---|---|---|`);
  for (const c of cases) {
    const file = join(dir, `accounting-${cases.indexOf(c)}.json`);
    const tracing = await tracingFor({ level: 3, rate: 1, ...c }, file);
    await tracing.attach({ model: { id: 'accounting', dir, onnxPath: '' }, device: 'cpu', version: 'bench', engine: {} });
    await accountingRep(tracing, captured, infos, workerMask, count / 4);
    const us: number[] = [];
    for (let r = 0; r < reps; r++) us.push(await accountingRep(tracing, captured, infos, workerMask, count));
    await tracing.shutdown();
    rmSync(file, { force: true });
    const cost = meanCi(us);
    const share = (cost.mean * reqPerSecond.mean) / 1e6;
    // Relative errors of a product add in quadrature.
    const half = share * Math.hypot(cost.ci95 / cost.mean, reqPerSecond.ci95 / reqPerSecond.mean);
    console.log(`| ${c.name} | ${cost.mean.toFixed(1)} ± ${cost.ci95.toFixed(1)} µs | ${(share * 100).toFixed(3)}% ± ${(half * 100).toFixed(3)} |`);
  }
  console.log(
    "\n(The replay runs tracing as the engine does, but in a tight loop: warm caches and a JIT that has seen nothing else. What it cannot show is how much tracing slows the engine's own work by sharing its caches; the interleaved runs above are the check on that, within their noise.)",
  );
}

const rounds = Number(opts.rounds);
const runs = new Map<Config, RunFigures[]>(configs.map((c) => [c, []]));
const began = performance.now();
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < configs.length; k++) {
    const c = configs[(r + k) % configs.length];
    runs.get(c)!.push(await runOnce(c, r));
  }
  console.error(`round ${r + 1}/${rounds} done (${((performance.now() - began) / 1000).toFixed(0)} s)`);
}
// Without rounds, three tracing-off runs give the request rate its interval.
if (rounds === 0) for (let r = 0; r < 3; r++) runs.get(configs[0])!.push(await runOnce(configs[0], r));
const base = runs.get(configs[0])!;
const reqPerSecond = meanCi(base.map((f) => f.throughput / tokens));
const ratio = (c: Config, pick: (f: RunFigures) => number): MeanCi => meanCi(runs.get(c)!.map((f, i) => pick(f) / pick(base[i])));
const pct = (m: MeanCi): string => `${((m.mean - 1) * 100).toFixed(1).padStart(6)}% ± ${(m.ci95 * 100).toFixed(1)}`;
const baseTput = meanCi(base.map((f) => f.throughput));
console.log(
  `\nsgl tracing overhead: engine on ${preset}, ${requests} requests x ${tokens} tokens at concurrency ${concurrency}, modules ${MODULES.join(',')}; ${rounds} interleaved rounds, a fresh engine per run; tracing off: ${baseTput.mean.toFixed(1)} ± ${baseTput.ci95.toFixed(1)} output tok/s`,
);
console.log(
  `level 3 hot path: ${nsPerPoint().toFixed(1)} ns per instrumentation point (a 200-step decode loop recorded into a fresh context, its growth included; bench/tracing.ts has the full breakdown)\n`,
);
if (rounds > 0) {
  console.log(`| configuration | throughput vs off | TTFT vs off | TPOT vs off | bytes exported / request |`);
  console.log(`|---|---|---|---|---|`);
  for (const c of configs.slice(1)) {
    const bytes = runs.get(c)!.reduce((a, f) => a + f.bytesPerRequest, 0) / rounds;
    console.log(
      `| ${c.name} | ${pct(ratio(c, (f) => f.throughput))} | ${pct(ratio(c, (f) => f.ttft))} | ${pct(ratio(c, (f) => f.tpot))} | ${c.exporter === 'none' ? '-' : bytes.toFixed(0)} |`,
    );
  }
  console.log('\n(± is the 95% confidence half-width of the per-round ratio, in percentage points.)');
}
await accounting(reqPerSecond);
await receiver.stop();
rmSync(dir, { recursive: true, force: true });
