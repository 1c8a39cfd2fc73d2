import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelRunner } from '../../src/lib/engine/onnx/model_runner.js';
import { Scheduler } from '../../src/lib/engine/policy/scheduler.js';
import type { LiveRequest } from '../../src/lib/engine/worker/live_request.js';
import { SchedulerWorker } from '../../src/lib/engine/worker/scheduler_worker.js';
import type { FromWorker, WorkerRequest } from '../../src/lib/protocol.js';
import { TINY_MODEL } from '../helpers/models.js';
import { until } from '../helpers/server.js';

const request = (rid: string, maxTokens: number): WorkerRequest => ({
  rid,
  inputIds: [15496, 11, 616],
  maxTokens,
  temperature: 0,
  topP: 1,
  topK: 0,
  seed: 0,
  stopTokenIds: [],
  logprobs: -1,
  trace: null,
});

describe('a KV repack that fails', () => {
  it('ends the requests whose cache it was moving, and the scheduler goes on serving', async () => {
    const runner = await ModelRunner.load({
      onnxPath: join(TINY_MODEL, 'onnx/model.onnx'),
      device: 'cpu',
      intraOpThreads: 1,
      interOpThreads: 1,
      contextLength: 1024,
      kvCacheBytes: 2 ** 24,
      limits: { maxRunningRequests: 4, maxPrefillTokens: 512 },
      timeOrigin: performance.timeOrigin,
      traceModules: [],
      prefixCache: false,
    });
    // What a GPU that fails mid-run looks like to the scheduler: the cache lives on the device, and moving it throws.
    Object.defineProperty(runner, 'kvOnDevice', { value: true });
    runner.repackKv = () => Promise.reject(new Error('the device was lost'));
    const sent: FromWorker[] = [];
    const worker = new SchedulerWorker(
      runner,
      new Scheduler<LiveRequest>({ maxRunningRequests: 4, maxPrefillTokens: 512, maxTotalTokens: 4096 }),
      1024,
      [],
      (m) => sent.push(m),
    );
    const finished = (rid: string): boolean => sent.some((m) => m.type === 'tokens' && m.outputs.some((o) => o.rid === rid && o.finish));
    const failed = (): Extract<FromWorker, { type: 'failed' }>[] => sent.filter((m): m is Extract<FromWorker, { type: 'failed' }> => m.type === 'failed');
    try {
      // a is admitted as it arrives, b at the next step: b's prefill joins a's batch, a repack, which fails.
      worker.onMessage({ type: 'add', req: request('a', 8) });
      worker.onMessage({ type: 'add', req: request('b', 8) });
      await until(() => failed().length > 0, 20_000);
      expect(failed()).toEqual([expect.objectContaining({ rids: ['a', 'b'], message: 'the device was lost' })]);
      // Nothing is left running, and a new request is served (alone, it needs no repack).
      worker.onMessage({ type: 'add', req: request('c', 3) });
      await until(() => finished('c'), 20_000);
      const last = sent.at(-1);
      expect(last?.type === 'tokens' && last.stats.running).toBe(0);
    } finally {
      await runner.release();
    }
  }, 60_000);
});
