import { Engine } from '../engine/engine.js';
import type { EngineOptions } from '../engine/engine.js';
import { MemoryExporter } from '../tracing/exporters/memory_exporter.js';
import type { FinishedRequest } from '../tracing/finished_request.js';
import { createTracing } from '../tracing/tracing_setup.js';
import type { TracingSetup } from '../tracing/tracing_setup.js';
import type { ExportLoss, Tracing } from '../tracing/tracing.js';

/**
 * One traced run of the in-process engine, the same for trace, bench and
 * replay: tracing built from the shared setup (file, OTLP, sampling) plus a
 * memory exporter for the reports, warm-ups kept out of the capture, a
 * flush before results are read, and one shutdown.
 */
export class EngineSession {
  private constructor(
    readonly engine: Engine,
    readonly tracing: Tracing,
    private readonly memory: MemoryExporter,
    private readonly level: TracingSetup['level'],
  ) {}

  static async start(engineOptions: Omit<EngineOptions, 'tracing'>, setup: TracingSetup): Promise<EngineSession> {
    const memory = new MemoryExporter();
    const tracing = await createTracing(setup, { exporters: [memory] });
    let engine: Engine;
    try {
      engine = await Engine.create({ ...engineOptions, tracing });
    } catch (err) {
      await tracing.shutdown();
      throw err;
    }
    return new EngineSession(engine, tracing, memory, setup.level);
  }

  /** Runs `work` untraced: warm-up requests stay out of captures and stage tables. */
  async untraced<T>(work: () => Promise<T>): Promise<T> {
    this.tracing.setLevel(0);
    try {
      return await work();
    } finally {
      this.tracing.setLevel(this.level);
    }
  }

  /** The requests traced so far, once every one of them has reached the exporters. */
  async traced(): Promise<readonly FinishedRequest[]> {
    await this.tracing.flush();
    return this.memory.requests;
  }

  /** Stops the engine, then closes the exporters; returns what they could not deliver. */
  async close(): Promise<ExportLoss[]> {
    await this.engine.shutdown();
    return this.tracing.shutdown();
  }
}
