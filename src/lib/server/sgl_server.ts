import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../engine/engine.js';
import { now } from '../tracing/clock.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import type { Tracing } from '../tracing/tracing.js';
import { handleGeneration } from './generation_handler.js';
import { HttpError } from './http_error.js';
import { chatRequest, completionRequest, nativeRequest } from './openai_request.js';
import type { ParsedRequest } from './openai_request.js';
import { readJsonBody } from './request_body.js';
import { chatFormat, completionFormat, nativeFormat } from './response_formats.js';
import type { ResponseFormat } from './response_formats.js';

export interface ServerOptions {
  host: string;
  port: number;
  apiKey?: string;
  /** Requests that may wait beyond the running batch before new ones get 503. */
  maxQueuedRequests: number;
  maxBodyBytes: number;
  enableMetrics: boolean;
}

type Generation = (body: Record<string, unknown>, model: string) => ParsedRequest;
const GENERATIONS: Record<string, { parse: Generation; format: (rid: string, model: string) => ResponseFormat }> = {
  '/v1/completions': { parse: completionRequest, format: completionFormat },
  '/v1/chat/completions': { parse: chatRequest, format: chatFormat },
  '/generate': { parse: (body) => nativeRequest(body), format: (rid) => nativeFormat(rid) },
};

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * The OpenAI-compatible HTTP server over the in-process engine. Every
 * failure a client can cause is a 4xx with an OpenAI-style body; the server
 * keeps serving. The engine and tracing are owned by the caller.
 */
export class SglServer {
  private readonly server: Server;
  private inFlight = 0;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly engine: Engine,
    private readonly tracing: Tracing,
    private readonly options: ServerOptions,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  get running(): number {
    return this.inFlight;
  }

  /** Stops accepting; resolves when running requests are done or `drainMs` has passed. */
  async close(drainMs: number): Promise<boolean> {
    this.server.close();
    this.server.closeIdleConnections();
    let drained = this.inFlight === 0;
    if (!drained) {
      drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), drainMs);
        this.idle.add(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    }
    this.server.closeAllConnections();
    return drained;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = now();
    const url = new URL(req.url ?? '/', 'http://sgl');
    try {
      if (url.pathname !== '/health' && this.options.apiKey && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
        throw new HttpError(401, 'Missing or wrong API key: send Authorization: Bearer <key>.', 'authentication_error', null, 'invalid_api_key');
      }
      const generation = GENERATIONS[url.pathname];
      if (generation) {
        if (req.method !== 'POST') throw new HttpError(405, `${url.pathname} takes POST.`, 'invalid_request_error', null, 'method_not_allowed', { Allow: 'POST' });
        await this.generate(req, res, generation, arrivedAt);
        return;
      }
      this.admin(req, res, url);
    } catch (err) {
      this.fail(res, err);
    }
  }

  private async generate(req: IncomingMessage, res: ServerResponse, generation: (typeof GENERATIONS)[string], arrivedAt: number): Promise<void> {
    const { maxRunningRequests } = this.engine.info.limits;
    if (this.inFlight >= maxRunningRequests + this.options.maxQueuedRequests) {
      req.resume();
      throw new HttpError(503, `The server is full (${this.inFlight} requests running or queued); retry shortly.`, 'server_error', null, 'server_overloaded', { 'Retry-After': '1' });
    }
    this.inFlight++;
    try {
      const body = await readJsonBody(req, this.options.maxBodyBytes);
      const parsed = generation.parse(body, this.engine.spec.id);
      const traceparent = req.headers.traceparent;
      const tracestate = req.headers.tracestate;
      await handleGeneration(this.engine, req, res, parsed, (rid) => generation.format(rid, this.engine.spec.id), {
        arrivedAt,
        ...(typeof traceparent === 'string' ? { traceparent } : {}),
        ...(typeof tracestate === 'string' ? { tracestate } : {}),
      });
    } finally {
      if (--this.inFlight === 0) {
        for (const wake of this.idle) wake();
        this.idle.clear();
      }
    }
  }

  private admin(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const model = this.engine.spec.id;
    switch (url.pathname) {
      case '/health':
        return sendJson(res, 200, { status: 'ok' });
      case '/v1/models':
        return sendJson(res, 200, { object: 'list', data: [{ id: model, object: 'model', created: 0, owned_by: 'sgl' }] });
      case '/metrics': {
        const metrics = this.tracing.metrics;
        if (!this.options.enableMetrics || !metrics) throw new HttpError(404, 'Metrics are off; start the server with --enable-metrics.', 'invalid_request_error', null, 'not_found');
        const stats = this.engine.stats();
        metrics.running = stats.running;
        metrics.queued = stats.waiting;
        const text = metrics.render();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case '/set_trace_level': {
        if (req.method !== 'GET' && req.method !== 'POST') throw new HttpError(405, '/set_trace_level takes GET or POST.', 'invalid_request_error', null, 'method_not_allowed');
        const raw = url.searchParams.get('level');
        const level = Number(raw);
        if (raw === null || !Number.isInteger(level) || level < 0 || level > 3) throw new HttpError(400, `level must be 0, 1, 2 or 3, got ${raw ?? 'nothing'}.`, 'invalid_request_error', 'level');
        this.tracing.setLevel(level as TraceLevel);
        return sendJson(res, 200, { level });
      }
      default:
        throw new HttpError(404, `No route ${req.method} ${url.pathname}. Routes: POST /v1/completions, /v1/chat/completions, /generate; GET /v1/models, /health, /metrics, /set_trace_level?level=N.`, 'invalid_request_error', null, 'not_found');
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    const httpErr = err instanceof HttpError ? err : new HttpError(500, `Internal error: ${(err as Error).message}`);
    if (res.headersSent) {
      // Mid-stream: tell the client in-band, then end the stream.
      if (!res.destroyed) res.end(`data: ${JSON.stringify(httpErr.body())}\n\n`);
      return;
    }
    sendJson(res, httpErr.status, httpErr.body(), httpErr.headers);
  }
}
