import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../engine/engine.js';
import { isSafeRid } from '../request_id.js';
import { now } from '../tracing/clock.js';
import type { Tracing } from '../tracing/tracing.js';
import { ApiKey } from './api_key.js';
import { BrowserGuard, PREFLIGHT_HEADERS } from './browser_guard.js';
import { SERVER_DEFAULTS } from './server_defaults.js';
import { ConnectionGuard } from './connection_guard.js';
import { handleGeneration } from './generation_handler.js';
import { HttpError } from './http_error.js';
import { chatRequest, completionRequest, nativeRequest } from './openai_request.js';
import type { ParsedRequest } from './openai_request.js';
import { readJsonBody } from './request_body.js';
import { adminRoutes, sendJson } from './admin_routes.js';
import type { AdminRoute } from './admin_routes.js';
import { chatFormat, completionFormat, nativeFormat } from './response_formats.js';
import type { ResponseFormat, TokenSpelling } from './response_formats.js';

export interface ServerOptions {
  host: string;
  port: number;
  apiKey?: string;
  /** Requests that may wait beyond the running batch before new ones get 503. */
  maxQueuedRequests: number;
  maxBodyBytes: number;
  enableMetrics: boolean;
  /** Open connections beyond which new ones get 503 (default 1024). */
  maxConnections?: number;
  /** How long a client may take to send its headers (default 10 s). */
  headersTimeoutMs?: number;
  /** How long a client may take to send its whole request, body included (default 30 s). */
  requestTimeoutMs?: number;
  /** Web page origins whose requests are served (with CORS headers); `*` for any. Default: none. */
  allowedOrigins?: readonly string[];
  /** Answer `include_metrics: true` with vLLM's per-request `metrics` (vLLM's --enable-per-request-metrics); ignored otherwise, as vLLM does. */
  enablePerRequestMetrics?: boolean;
}

type Generation = (body: Record<string, unknown>, model: string) => ParsedRequest;
const GENERATIONS: Record<string, { parse: Generation; format: (rid: string, model: string, spell: TokenSpelling) => ResponseFormat }> = {
  '/v1/completions': { parse: completionRequest, format: completionFormat },
  '/v1/chat/completions': { parse: chatRequest, format: chatFormat },
  '/generate': { parse: (body) => nativeRequest(body), format: (rid) => nativeFormat(rid) },
};

const ROUTES = 'Routes: POST /v1/completions, /v1/chat/completions, /generate; GET /v1/models, /health, /ready, /metrics; GET|POST /set_trace_level?level=N.';

/** The request's path; a target that is not a path (`//[`, `http://host:99999/`) is a 400, not a crash. */
function pathOf(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://sgl');
  } catch {
    throw new HttpError(400, `The request target ${JSON.stringify(req.url)} is not a valid path.`, 'invalid_request_error', null, 'bad_request');
  }
}

/**
 * The OpenAI-compatible HTTP server over the in-process engine. Every route
 * runs inside one guard: whatever a client sends ends in a 4xx/5xx with an
 * OpenAI-style body, and the server keeps serving. A slot is taken when a
 * request is admitted to the engine, not when its socket opens, so slow
 * clients hold connections (capped, timed out) but never generation slots.
 * The engine and tracing are owned by the caller.
 */
export class SglServer {
  private readonly server: Server;
  private readonly guard: ConnectionGuard;
  private readonly apiKey: ApiKey | null;
  private readonly browsers: BrowserGuard;
  private admitted = 0;
  /** Readiness fails from here on (a balancer takes the instance out), while requests are still served. */
  private draining = false;
  private closing = false;
  private readonly idle = new Set<() => void>();
  /** X-Request-Id values that name a request running here. */
  private readonly headerRids = new Set<string>();
  /** The routes besides generation. */
  private readonly adminRoutes: Record<string, AdminRoute>;

  constructor(
    private readonly engine: Engine,
    private readonly tracing: Tracing,
    private readonly options: ServerOptions,
  ) {
    this.apiKey = options.apiKey === undefined ? null : new ApiKey(options.apiKey);
    this.adminRoutes = adminRoutes(engine, tracing, { enableMetrics: options.enableMetrics, draining: () => this.draining });
    this.browsers = new BrowserGuard(options.allowedOrigins ?? [], options.host);
    const requestTimeout = options.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs;
    this.server = createServer(
      {
        // The headers are part of the request: their limit is never the longer one.
        headersTimeout: Math.min(options.headersTimeoutMs ?? SERVER_DEFAULTS.headersTimeoutMs, requestTimeout),
        requestTimeout,
        // Node checks those timeouts on this interval (30 s by default, which would double them).
        connectionsCheckingInterval: 1000,
        // Checked in handle(), so the 400 has a body like every other error.
        requireHostHeader: false,
      },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => this.fail(res, err));
      },
    );
    this.server.keepAliveTimeout = 5000;
    this.guard = new ConnectionGuard(this.server, options.maxConnections ?? SERVER_DEFAULTS.maxConnections);
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  /** Requests admitted to the engine and not yet answered. */
  get running(): number {
    return this.admitted;
  }

  /** Connections open, how many have no request in progress, and how many idle ones were closed to make room. */
  get connections(): { open: number; idle: number; evicted: number } {
    return { ...this.guard.connections, evicted: this.guard.evictions };
  }

  /**
   * Starts draining: GET /ready answers 503 from now on, so a load balancer
   * that checks it stops sending new requests, while those that still come
   * are served. `close` then stops accepting.
   */
  drain(): void {
    this.draining = true;
  }

  /** Stops accepting; resolves when running requests are done or `drainMs` has passed. */
  async close(drainMs: number): Promise<boolean> {
    this.draining = true;
    this.closing = true;
    this.server.close();
    this.server.closeIdleConnections();
    let drained = this.admitted === 0;
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
    if (this.guard.refusedSocket(req.socket)) return;
    const arrivedAt = now();
    const url = pathOf(req);
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      throw new HttpError(400, 'An HTTP/1.1 request needs a Host header.', 'invalid_request_error', null, 'bad_request');
    }
    for (const [name, value] of Object.entries(this.browsers.check(req))) res.setHeader(name, value);
    const generation = Object.hasOwn(GENERATIONS, url.pathname) ? GENERATIONS[url.pathname] : undefined;
    const route = Object.hasOwn(this.adminRoutes, url.pathname) ? this.adminRoutes[url.pathname] : undefined;
    if (req.method === 'OPTIONS' && (generation || route)) {
      res.writeHead(204, PREFLIGHT_HEADERS).end();
      return;
    }
    if (url.pathname !== '/health' && url.pathname !== '/ready' && this.apiKey && !this.apiKey.accepts(req.headers.authorization)) {
      throw new HttpError(401, 'Missing or wrong API key: send Authorization: Bearer <key>.', 'authentication_error', null, 'invalid_api_key');
    }
    if (generation) {
      if (req.method !== 'POST')
        throw new HttpError(405, `${url.pathname} takes POST.`, 'invalid_request_error', null, 'method_not_allowed', { Allow: 'POST' });
      await this.generate(req, res, generation, arrivedAt);
      return;
    }
    if (!route) throw new HttpError(404, `No route ${req.method} ${url.pathname}. ${ROUTES}`, 'invalid_request_error', null, 'not_found');
    const { methods } = route;
    if (!methods.includes(req.method ?? ''))
      throw new HttpError(405, `${url.pathname} takes ${methods.join(' or ')}.`, 'invalid_request_error', null, 'method_not_allowed', {
        Allow: methods.join(', '),
      });
    route.answer(res, url);
  }

  private async generate(req: IncomingMessage, res: ServerResponse, generation: (typeof GENERATIONS)[string], arrivedAt: number): Promise<void> {
    const body = await readJsonBody(req, this.options.maxBodyBytes);
    const parsed = generation.parse(body, this.engine.spec.id);
    if (this.closing)
      throw new HttpError(503, 'The server is shutting down; send the request to another instance.', 'server_error', null, 'shutting_down', {
        Connection: 'close',
      });
    const slots = this.engine.info.limits.maxRunningRequests + this.options.maxQueuedRequests;
    if (this.admitted + parsed.n > slots) {
      throw new HttpError(503, `The server is full (${this.admitted} requests running or queued); retry shortly.`, 'server_error', null, 'server_overloaded', {
        'Retry-After': '1',
      });
    }
    this.admitted += parsed.n;
    let claimed: string | null = null;
    try {
      const traceparent = req.headers.traceparent;
      const tracestate = req.headers.tracestate;
      // A client's (or a balancer's) X-Request-Id names the request, as the body's rid does, unless one runs under it already; it is echoed either way.
      const requestId = req.headers['x-request-id'];
      const headerRid = typeof requestId === 'string' && isSafeRid(requestId) ? requestId : null;
      if (headerRid !== null) {
        res.setHeader('X-Request-Id', headerRid);
        // Claimed here, synchronously: a second request under the id, arriving while the first is tokenized, takes its own.
        if (parsed.req.rid === undefined && !this.headerRids.has(headerRid) && !this.engine.isRunning(headerRid)) {
          parsed.req.rid = headerRid;
          this.headerRids.add(headerRid);
          claimed = headerRid;
        }
      }
      const metrics = parsed.includeMetrics && this.options.enablePerRequestMetrics === true;
      const format = (rid: string): ResponseFormat => generation.format(rid, this.engine.spec.id, this.engine.tokenizer);
      const context = {
        arrivedAt,
        clientRid: true,
        // vLLM's metrics are computed from the same records as include_timing.
        includeTiming: parsed.includeTiming || metrics,
        ...(typeof traceparent === 'string' ? { traceparent } : {}),
        ...(typeof tracestate === 'string' ? { tracestate } : {}),
      };
      await handleGeneration(this.engine, req, res, parsed, format, context, metrics);
    } finally {
      if (claimed !== null) this.headerRids.delete(claimed);
      this.admitted -= parsed.n;
      if (this.admitted === 0) {
        for (const wake of this.idle) wake();
        this.idle.clear();
      }
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.destroyed || res.writableEnded) return;
    const httpErr = err instanceof HttpError ? err : new HttpError(500, `Internal error: ${(err as Error)?.message ?? String(err)}`);
    if (res.headersSent) {
      // Mid-stream: tell the client in-band, then end the stream.
      res.end(`data: ${JSON.stringify(httpErr.body())}\n\n`);
      return;
    }
    sendJson(res, httpErr.status, httpErr.body(), httpErr.headers);
  }
}
