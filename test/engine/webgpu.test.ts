import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { GqaBatch } from '../../src/lib/engine/kv/gqa_batch.js';
import { KvBatch } from '../../src/lib/engine/kv/kv_batch.js';
import type { KvData } from '../../src/lib/engine/policy/prefix_cache.js';
import { ModelRunner } from '../../src/lib/engine/onnx/model_runner.js';
import type { WorkerConfig } from '../../src/lib/protocol.js';
import type { GenerateRequest } from '../../src/lib/protocol.js';
import { Capture } from '../../src/lib/tracing/trace_file/capture.js';
import { TraceFileWriter } from '../../src/lib/tracing/trace_file/writer.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import { runCli } from '../helpers/cli.js';
import { collect } from '../helpers/collect.js';
import { SHARED_MODEL, TINY_MODEL, hasSharedModel, tinyGenaiGqaModel, tinyGqaFp16Model, tinyGqaModel, tinySlotModel } from '../helpers/models.js';

/** Whether onnxruntime's WebGPU provider finds an adapter here (Linux: a Vulkan driver; see docs/engine.md). */
async function webgpuAdapter(): Promise<string | null> {
  try {
    const session = await ort.InferenceSession.create(join(TINY_MODEL, 'onnx/model.onnx'), { executionProviders: ['webgpu'], logSeverityLevel: 4 });
    await session.release();
    return null;
  } catch (err) {
    return (err as Error).message.split('\n').pop() ?? 'no adapter';
  }
}
const noAdapter = await webgpuAdapter();
if (noAdapter)
  console.warn(`WebGPU tests skipped: ${noAdapter} (on Debian 12, mesa-vulkan-drivers from bookworm-backports gives a software adapter; .ci/run installs it).`);

const dir = mkdtempSync(join(tmpdir(), 'sgl-webgpu-'));
const greedy = (prompt: string, maxTokens: number): GenerateRequest => ({ prompt, sampling: { temperature: 0, maxTokens, ignoreEos: true } });
// Few tokens: on a software adapter (llvmpipe) every new shape compiles shaders the first time.
const PROMPTS = ['Hello, my name is', 'The quick brown fox jumps over the lazy dog near the river'];
const TOKENS = [5, 3];

describe.skipIf(noAdapter !== null)('the engine on WebGPU', () => {
  const engines: Engine[] = [];
  afterAll(async () => {
    for (const e of engines) await e.shutdown();
  });
  const start = async (modelPath: string, device: 'cpu' | 'webgpu', tracing?: Tracing): Promise<Engine> => {
    const engine = await Engine.create({ modelPath, device, maxRunningRequests: 4, ...(tracing ? { tracing } : {}) });
    engines.push(engine);
    return engine;
  };

  for (const [key, name, modelPath] of [
    ['tiny', 'the embedded model', TINY_MODEL],
    ['slots', 'the tiny preset in the slot KV layout (its cache on the host)', tinySlotModel()],
    ['gqa', 'the tiny preset in the gqa KV layout (its cache on the device, written in place)', tinyGqaModel()],
    ['gqa-fp16', 'the tiny preset in the gqa KV layout with an fp16 cache', tinyGqaFp16Model()],
    ['genai-gqa', "a tiny model in onnxruntime-genai's GroupQueryAttention interface", tinyGenaiGqaModel()],
    ['shared', 'the shared third-party fp16 model', SHARED_MODEL],
  ] as const) {
    it.runIf(modelPath !== SHARED_MODEL || hasSharedModel)(
      `gives the CPU's greedy tokens on ${name}, alone and batched with requests joining and leaving`,
      async () => {
        const file = join(dir, `${key}.json`);
        const tracing = new Tracing({ level: 3, modules: ['request', 'scheduler', 'engine'], exporters: [new TraceFileWriter(file)] });
        const gpu = await start(modelPath, 'webgpu', tracing);
        expect(gpu.device).toBe('webgpu');
        const cpu = await start(modelPath, 'cpu');
        const onCpu: number[][] = [];
        for (let i = 0; i < PROMPTS.length; i++) onCpu.push((await collect(cpu, greedy(PROMPTS[i], TOKENS[i]))).tokens);
        const alone: number[][] = [];
        for (let i = 0; i < PROMPTS.length; i++) alone.push((await collect(gpu, greedy(PROMPTS[i], TOKENS[i]))).tokens);
        expect(alone).toEqual(onCpu);
        // The second joins once the first is decoding, and leaves first.
        const results: Promise<number[]>[] = [];
        const launch = (i: number): void => {
          if (i >= PROMPTS.length) return;
          let next = false;
          results[i] = collect(gpu, greedy(PROMPTS[i], TOKENS[i]), (_, n) => {
            if (n === 1 && !next) {
              next = true;
              launch(i + 1);
            }
          }).then((r) => r.tokens);
        };
        launch(0);
        const batched: number[][] = [];
        for (let i = 0; i < PROMPTS.length; i++) {
          while (!results[i]) await new Promise((r) => setTimeout(r, 1));
          batched.push(await results[i]);
        }
        expect(batched).toEqual(onCpu);
        // A level-3 capture made on the GPU reads back in the trace tools, device in its header.
        await tracing.shutdown();
        const capture = new Capture(file, () => {});
        const requests = [...capture.requests()];
        expect(requests).toHaveLength(2 * PROMPTS.length);
        expect(capture.reader.header?.device).toBe('webgpu');
        const summary = await runCli(['trace', 'summary', file, '--json']);
        expect(summary.code, summary.stderr).toBe(0);
        expect((JSON.parse(summary.stdout) as { stages: { stage: string }[] }).stages.map((s) => s.stage)).toContain('ort_run');
      },
      240_000,
    );
  }
});

describe.skipIf(noAdapter !== null)('the KV cache on WebGPU', () => {
  const config = (device: 'cpu' | 'webgpu'): WorkerConfig => ({
    onnxPath: join(TINY_MODEL, 'onnx/model.onnx'),
    device,
    intraOpThreads: 1,
    interOpThreads: 1,
    contextLength: 1024,
    kvCacheBytes: 2 ** 20,
    limits: { maxRunningRequests: 4, maxPrefillTokens: 512 },
    timeOrigin: performance.timeOrigin,
    traceModules: [],
    prefixCache: false,
  });
  /** Two prompts prefilled apart, then joined (the second padded), then two decode steps, the first row leaving after one: the cache at each point. */
  async function joinAndLeave(
    runner: ModelRunner,
  ): Promise<{ joined: number[][]; left: number[][]; moves: { repack: { up: number; down: number }; decode: { up: number; down: number } } }> {
    const row = (rid: string, lastToken: number) => ({ rid, lastToken });
    const a = await KvBatch.prefill(runner, [row('a', 11)], [[15496, 11, 616, 1438, 318]], 512);
    const b = await KvBatch.prefill(runner, [row('b', 12)], [[464, 2068]], 512);
    const moved = <T>(work: () => Promise<T>): Promise<{ result: T; up: number; down: number }> => {
      const before = { ...runner.transfers };
      return work().then((result) => ({ result, up: runner.transfers.toDevice - before.toDevice, down: runner.transfers.fromDevice - before.fromDevice }));
    };
    const repack = await moved(() =>
      KvBatch.repack(runner, [
        { batch: a.batch, keep: [0] },
        { batch: b.batch, keep: [0] },
      ]),
    );
    const joined = repack.result;
    const decode = await moved(() => joined.decode(runner));
    const snapshot = async (batch: KvBatch): Promise<number[][]> => (await batch.kvSource(runner)).data.map((d) => Array.from(d));
    const joinedKv = await snapshot(joined);
    const left = await KvBatch.repack(runner, [{ batch: joined, keep: [1] }]);
    await left.decode(runner);
    const leftKv = await snapshot(left);
    left.release(runner);
    return { joined: joinedKv, left: leftKv, moves: { repack: { up: repack.up, down: repack.down }, decode: { up: decode.up, down: decode.down } } };
  }

  it('stays on the device through decode steps and rows joining and leaving, and holds what the CPU computes', async () => {
    const gpu = await ModelRunner.load(config('webgpu'));
    const cpu = await ModelRunner.load(config('cpu'));
    try {
      expect(gpu.kvOnDevice).toBe(true);
      expect(cpu.kvOnDevice).toBe(false);
      const onGpu = await joinAndLeave(gpu);
      const onCpu = await joinAndLeave(cpu);
      // A join is one run on the device: the columns to keep (start, end), and each part's row indices and pad widths
      // go up (int64s); one float comes down, read so that the run ends when the device has done the work.
      expect(onGpu.moves.repack.down).toBe(4);
      expect(onGpu.moves.repack.up).toBe(2 * 8 + 2 * (8 + 8 * 8));
      // A decode step of two rows brings down their last-position logits (float32) and nothing else.
      expect(onGpu.moves.decode.down).toBe(2 * gpu.vocabSize * 4);
      // Same cache as the CPU's, padding included (Pad writes zeros, as the host repack does).
      for (const [kv, want] of [
        [onGpu.joined, onCpu.joined],
        [onGpu.left, onCpu.left],
      ]) {
        expect(kv.map((t) => t.length)).toEqual(want.map((t) => t.length));
        kv.forEach((t, i) => t.forEach((v, j) => expect(Math.abs(v - want[i][j])).toBeLessThan(1e-4)));
      }
    } finally {
      await gpu.release();
      await cpu.release();
    }
  }, 120_000);
});

describe.skipIf(noAdapter !== null)('the gqa KV cache on WebGPU', () => {
  const config = (device: 'cpu' | 'webgpu'): WorkerConfig => ({
    onnxPath: join(tinyGqaModel(), 'onnx/model.onnx'),
    device,
    intraOpThreads: 1,
    interOpThreads: 1,
    contextLength: 1024,
    kvCacheBytes: 2 ** 20,
    limits: { maxRunningRequests: 4, maxPrefillTokens: 512 },
    timeOrigin: performance.timeOrigin,
    traceModules: [],
    prefixCache: false,
  });
  /** Two prompts prefilled apart (the second from a cached prefix, in two chunks), joined, a decode step, the first row leaving, another step. */
  async function joinAndLeave(runner: ModelRunner): Promise<{ joined: number[][]; left: number[][]; decode: { up: number; down: number } }> {
    const prefill = async (rid: string, prompt: number[], capacity: number, chunk: number, cached: { data: KvData[]; length: number } | null) => {
      const batch = await GqaBatch.start(runner, { rid, lastToken: 11 }, capacity, cached);
      while (!(await batch.prefillChunk(runner, prompt, chunk)).logits);
      return batch;
    };
    const a = await prefill('a', [15496, 11, 616, 1438, 318], 12, 512, null);
    const prefix = await a.kvSource(runner);
    // Its first two tokens, which the second prompt shares: [1, kv_heads, 2, head_dim] of each [1, kv_heads, 5, head_dim].
    const cached = {
      data: prefix.data.map((d) => Float32Array.from({ length: 2 * 2 * 8 }, (_, i) => d[(Math.floor(i / 16) * 5 + ((i >> 3) & 1)) * 8 + (i & 7)])),
      length: 2,
    };
    const b = await prefill('b', [15496, 11, 464, 2068, 1438, 11], 16, 2, cached);
    const joined = await GqaBatch.repack(
      runner,
      [
        { batch: a, keep: [0] },
        { batch: b, keep: [0] },
      ],
      16,
    );
    const before = { ...runner.transfers };
    await joined.decode(runner);
    const decode = { up: runner.transfers.toDevice - before.toDevice, down: runner.transfers.fromDevice - before.fromDevice };
    const snapshot = async (batch: GqaBatch): Promise<number[][]> => (await batch.kvSource(runner)).data.map((d) => Array.from(d));
    const joinedKv = await snapshot(joined);
    const left = await GqaBatch.repack(runner, [{ batch: joined, keep: [1] }], 16);
    await left.decode(runner);
    const leftKv = await snapshot(left);
    left.release(runner);
    return { joined: joinedKv, left: leftKv, decode };
  }

  it('is written in place on the device, a column a step, through joins and leaves, and holds what the CPU computes', async () => {
    const gpu = await ModelRunner.load(config('webgpu'));
    const cpu = await ModelRunner.load(config('cpu'));
    try {
      expect(gpu.io.layout).toBe('gqa');
      expect(gpu.kvOnDevice).toBe(true);
      const onGpu = await joinAndLeave(gpu);
      const onCpu = await joinAndLeave(cpu);
      // A decode step of two rows: their tokens, positions, cache lengths and last indices go up (int64s),
      // their logits come down, and the cache does not move.
      expect(onGpu.decode.up).toBe(4 * 2 * 8);
      expect(onGpu.decode.down).toBe(2 * gpu.vocabSize * 4);
      for (const [kv, want] of [
        [onGpu.joined, onCpu.joined],
        [onGpu.left, onCpu.left],
      ]) {
        expect(kv.map((t) => t.length)).toEqual(want.map((t) => t.length));
        kv.forEach((t, i) => t.forEach((v, j) => expect(Math.abs(v - want[i][j])).toBeLessThan(1e-4)));
      }
      // The rows' tokens are there: 5 and 6 prompt tokens, one step each; then the second row alone, one more step.
      expect(onCpu.joined[0].length).toBe(2 * 2 * 7 * 8);
      expect(onCpu.left[0].length).toBe(1 * 2 * 8 * 8);
    } finally {
      await gpu.release();
      await cpu.release();
    }
  }, 120_000);
});

describe('--device webgpu without an adapter', () => {
  it('is a clear error that names the driver to install', async () => {
    // No Vulkan driver to be found: what a machine without a GPU driver sees.
    const r = await runCli(['trace', 'Hi', '--device', 'webgpu', '--max-tokens', '1'], {
      VK_ICD_FILENAMES: join(dir, 'none.json'),
      VK_DRIVER_FILES: join(dir, 'none.json'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not start the WebGPU provider: Failed to get a WebGPU adapter/);
    expect(r.stderr).toMatch(/Vulkan on Linux/);
    // auto falls back to the CPU and says why.
    const auto = await runCli(['trace', 'Hi', '--device', 'auto', '--max-tokens', '1', '--json'], {
      VK_ICD_FILENAMES: join(dir, 'none.json'),
      VK_DRIVER_FILES: join(dir, 'none.json'),
    });
    expect(auto.code, auto.stderr).toBe(0);
    expect(JSON.parse(auto.stdout).device).toBe('cpu');
  }, 60_000);
});
