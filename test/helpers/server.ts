import { Engine } from '../../src/lib/engine/engine.js';
import type { EngineOptions } from '../../src/lib/engine/engine.js';
import { SglServer } from '../../src/lib/server/sgl_server.js';
import type { ServerOptions } from '../../src/lib/server/sgl_server.js';
import { MemoryExporter } from '../../src/lib/tracing/exporters/memory_exporter.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import type { TracingOptions } from '../../src/lib/tracing/tracing.js';

export interface TestServer {
  url: string;
  engine: Engine;
  tracing: Tracing;
  memory: MemoryExporter;
  server: SglServer;
  stop(): Promise<void>;
}

/** The real server on 127.0.0.1 and a random port, over the embedded model. */
export async function startServer(
  options: Partial<ServerOptions> = {},
  tracingOptions: TracingOptions = {},
  engineOptions: EngineOptions = {},
): Promise<TestServer> {
  const memory = new MemoryExporter();
  const tracing = new Tracing({ metrics: true, ...tracingOptions, exporters: [memory, ...(tracingOptions.exporters ?? [])] });
  const engine = await Engine.create({ ...engineOptions, tracing });
  const server = new SglServer(engine, tracing, {
    host: '127.0.0.1',
    port: 0,
    maxQueuedRequests: 64,
    maxBodyBytes: 64 * 1024,
    enableMetrics: true,
    ...options,
  });
  const address = await server.listen();
  return {
    url: `http://127.0.0.1:${address.port}`,
    engine,
    tracing,
    memory,
    server,
    async stop() {
      await server.close(5000);
      await engine.shutdown();
      await tracing.shutdown();
    },
  };
}

/** A POST with a raw body, for requests no well-behaved client would send. */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** Polls `check` until it holds (or fails after `ms`): for state the server reaches on its own time. */
export async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
