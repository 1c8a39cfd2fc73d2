/**
 * The scheduler thread's entry: loads the onnxruntime session, says what it
 * can run, then hands every message to the scheduler loop. The main thread
 * talks to it only through protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, RunnerInfo, ToWorker, WorkerConfig } from '../../protocol.js';
import { alignClock } from '../../tracing/clock.js';
import type { TraceModule } from '../../tracing/stages.js';
import { ModelRunner } from '../onnx/model_runner.js';
import { PrefixCache } from '../policy/prefix_cache.js';
import { Scheduler } from '../policy/scheduler.js';
import type { LiveRequest } from './live_request.js';
import { SchedulerWorker } from './scheduler_worker.js';

async function main(): Promise<void> {
  const port = parentPort!;
  const cfg = workerData as WorkerConfig;
  alignClock(cfg.timeOrigin);
  const send = (msg: FromWorker): void => port.postMessage(msg);
  let runner: ModelRunner;
  try {
    runner = await ModelRunner.load(cfg);
  } catch (err) {
    send({ type: 'fatal', message: (err as Error).message, kind: (err as Error).name });
    return;
  }
  const { numLayers, kvHeads, headDim, kvType, hasPositionIds } = runner.io;
  const kvBytesPerToken = numLayers * 2 * kvHeads * headDim * (kvType === 'float16' ? 2 : 4);
  const limits = { ...cfg.limits, maxTotalTokens: Math.floor(cfg.kvCacheBytes / kvBytesPerToken) };
  // Cached prefixes are extended by running the rest of a prompt on top of them: a model that cannot take
  // several tokens on top of a past (onnxruntime-genai exports) cannot use them.
  const cacheOn = cfg.prefixCache && runner.io.chunkedPrefill;
  const prefixCache = {
    on: cacheOn,
    why: !cfg.prefixCache
      ? 'turned off with --disable-prefix-cache'
      : cacheOn
        ? 'on'
        : 'off: this model cannot run several tokens on top of a past, which extending a cached prefix needs',
  };
  const info: RunnerInfo = {
    numLayers,
    kvHeads,
    headDim,
    kvType,
    hasPositionIds,
    vocabSize: runner.vocabSize,
    kvBytesPerToken,
    kvLayout: runner.io.layout,
    limits,
    prefixCache,
    device: runner.device,
    ...(runner.deviceWhy ? { deviceWhy: runner.deviceWhy } : {}),
  };
  const cache = cacheOn
    ? new PrefixCache({ tensors: runner.io.pastNames.length, kvHeads, headDim, newData: (n) => runner.newKvData(n), budget: limits.maxTotalTokens })
    : null;
  const worker = new SchedulerWorker(runner, new Scheduler<LiveRequest>(limits), cfg.contextLength, cfg.traceModules as TraceModule[], send, cache);
  port.on('message', (msg: ToWorker) => worker.onMessage(msg));
  send({ type: 'ready', info });
  // The slot layout's cache is made resident in the loop's idle turns, from the start (the others have none to warm).
  if (runner.io.layout === 'slots') worker.kick();
}

void main();
