/**
 * The batching sweep (bench/engine.ts --sweep): R requests of P-token
 * prompts at once, R = 1, 2, 4, ..., each step's time against the floor
 * the memory allows, measured in the same run.
 *
 * A decode step must read every weight once and every live KV token once:
 * its floor is those bytes over the read bandwidth, which a probe measures
 * here (onnxruntime summing a buffer of the step's size on the same
 * threads: the fastest this machine reads that many bytes). The step time
 * is the median interval between one request's tokens while all R are
 * decoding (after the last prefill).
 */
import * as ort from 'onnxruntime-node';
import { Engine } from '../src/lib/engine/engine.js';
import type { Device } from '../src/lib/engine/engine.js';
import { parameterCount, PRESETS } from '../src/lib/engine/generator/llama_weights.js';
import type { PresetName } from '../src/lib/engine/generator/llama_weights.js';
import { DataType, encodeModel } from '../src/lib/engine/generator/onnx_proto.js';
import { percentile } from '../src/lib/stats/distribution.js';
import { Rng } from '../src/lib/stats/rng.js';

export interface SweepOptions {
  dir: string;
  preset: PresetName;
  rows: number[];
  promptTokens: number;
  outputTokens: number;
  threads: number;
  label: string;
  /** Passes over the row counts, alternately up and down; each figure is the median over them. */
  rounds: number;
  device?: Device;
}

export interface SweepRow {
  rows: number;
  stepMs: number;
  floorMs: number;
  /** R / step: output tokens per second while every row decodes. */
  decodeTokPerS: number;
  /** All output tokens over the whole run, prefills included. */
  outputTokPerS: number;
  peakRssMiB: number;
  /** RSS once the engine is loaded and warm, before the R requests. */
  startRssMiB: number;
  /** The KV the rows hold at the end: R × (prompt + output) tokens. */
  liveKvMiB: number;
}

const median = (xs: readonly number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** Seconds onnxruntime takes to read `bytes` (a ReduceSum over a buffer that size), median of a few runs. */
export async function readSeconds(bytes: number, threads: number): Promise<number> {
  const n = Math.max(1, Math.floor(bytes / 4));
  const graph = encodeModel({
    graphName: 'read_probe',
    producer: 'sgl-bench',
    opset: 17,
    nodes: [{ op: 'ReduceSum', inputs: ['x'], outputs: ['y'], name: 'sum', attributes: { keepdims: 0 } }],
    initializers: [],
    inputs: [{ name: 'x', dataType: DataType.FLOAT, shape: [n] }],
    outputs: [{ name: 'y', dataType: DataType.FLOAT, shape: [] }],
  });
  const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const x = new ort.Tensor('float32', new Float32Array(n).fill(1), [n]);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    await session.run({ x });
    times.push((performance.now() - start) / 1000);
  }
  await session.release();
  return median(times.slice(2));
}

/**
 * Runs every row count `rounds` times, up the list then down it, and keeps
 * each figure's median: this VM runs whole minutes 20-35% faster or slower,
 * and one pass would hand that drift to whichever R ran then.
 */
export async function sweep(o: SweepOptions): Promise<SweepRow[]> {
  const runs = new Map<number, SweepRow[]>(o.rows.map((r) => [r, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (const r of await sweepOnce({ ...o, rows: round % 2 ? [...o.rows].reverse() : o.rows })) runs.get(r.rows)!.push(r);
  }
  const mid = (xs: SweepRow[], f: (r: SweepRow) => number): number => median(xs.map(f));
  return o.rows.map((rows) => {
    const xs = runs.get(rows)!;
    return {
      rows,
      stepMs: mid(xs, (r) => r.stepMs),
      floorMs: mid(xs, (r) => r.floorMs),
      decodeTokPerS: mid(xs, (r) => r.decodeTokPerS),
      outputTokPerS: mid(xs, (r) => r.outputTokPerS),
      peakRssMiB: Math.max(...xs.map((r) => r.peakRssMiB)),
      startRssMiB: mid(xs, (r) => r.startRssMiB),
      liveKvMiB: xs[0].liveKvMiB,
    };
  });
}

async function sweepOnce(o: SweepOptions): Promise<SweepRow[]> {
  const c = PRESETS[o.preset];
  const weightBytes = parameterCount(c) * 4;
  // fp32 to size the budget (an fp16 cache gets twice the room it needs); the floor counts the engine's own bytes.
  const fp32BytesPerToken = c.numLayers * 2 * c.numKvHeads * c.headDim * 4;
  const out: SweepRow[] = [];
  const rng = new Rng(7);
  for (const rows of o.rows) {
    const kvCacheMb = Math.ceil((rows * (o.promptTokens + o.outputTokens) * fp32BytesPerToken * 1.5) / 2 ** 20) + 64;
    const engine = await Engine.create({
      modelPath: o.dir,
      device: o.device ?? 'cpu',
      threads: o.threads,
      interOpThreads: 1,
      kvCacheMb,
      maxRunningRequests: Math.max(64, rows),
      disablePrefixCache: true,
    });
    const { kvBytesPerToken } = engine.info;
    // One request to warm the session's kernels for this shape.
    for await (const chunk of await engine.generate({
      inputIds: Array.from({ length: 16 }, () => 1000 + Math.floor(rng.next() * 40000)),
      sampling: { temperature: 0, maxTokens: 4, ignoreEos: true },
    }))
      void chunk;
    const startRss = process.memoryUsage().rss;
    let peakRss = startRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const times: number[][] = Array.from({ length: rows }, () => []);
    const start = performance.now();
    await Promise.all(
      times.map(async (t) => {
        const inputIds = Array.from({ length: o.promptTokens }, () => 1000 + Math.floor(rng.next() * 40000));
        for await (const chunk of await engine.generate({ inputIds, sampling: { temperature: 0, maxTokens: o.outputTokens, ignoreEos: true } })) {
          void chunk;
          t.push(performance.now());
        }
      }),
    );
    const wall = (performance.now() - start) / 1000;
    clearInterval(sampler);
    await engine.shutdown();
    // Steps while every row decodes: after the last row's first token.
    const allIn = Math.max(...times.map((t) => t[0]));
    const steps: number[] = [];
    for (const t of times) for (let i = 1; i < t.length; i++) if (t[i - 1] >= allIn) steps.push(t[i] - t[i - 1]);
    const stepMs = median(steps);
    const liveTokens = rows * (o.promptTokens + o.outputTokens / 2);
    const floorMs = (await readSeconds(weightBytes + liveTokens * kvBytesPerToken, o.threads)) * 1000;
    const liveKvMiB = (rows * (o.promptTokens + o.outputTokens) * kvBytesPerToken) / 2 ** 20;
    out.push({
      rows,
      stepMs,
      floorMs,
      decodeTokPerS: (rows * 1000) / stepMs,
      outputTokPerS: (rows * o.outputTokens) / wall,
      peakRssMiB: peakRss / 2 ** 20,
      startRssMiB: startRss / 2 ** 20,
      liveKvMiB,
    });
  }
  return out;
}

export function printSweep(o: SweepOptions, rows: SweepRow[]): void {
  const c = PRESETS[o.preset];
  const weightMiB = (parameterCount(c) * 4) / 2 ** 20;
  console.log(
    `\n${o.label}: ${o.promptTokens}-token prompts, ${o.outputTokens} output tokens, R at once (weights ${weightMiB.toFixed(0)} MiB; medians of ${o.rounds} rounds)`,
  );
  console.log('   R   step ms   floor ms   step/floor   decode tok/s   output tok/s   RSS start -> peak (live KV)   peak / (start + live KV)');
  for (const r of rows) {
    console.log(
      `${String(r.rows).padStart(4)}  ${r.stepMs.toFixed(1).padStart(8)}  ${r.floorMs.toFixed(1).padStart(9)}  ${(r.stepMs / r.floorMs).toFixed(2).padStart(10)}x  ${r.decodeTokPerS.toFixed(1).padStart(12)}  ${r.outputTokPerS.toFixed(1).padStart(13)}  ${`${r.startRssMiB.toFixed(0)} -> ${r.peakRssMiB.toFixed(0)} MiB (${r.liveKvMiB.toFixed(0)})`.padStart(27)}  ${(r.peakRssMiB / (r.startRssMiB + r.liveKvMiB)).toFixed(2).padStart(10)}x`,
    );
  }
}
