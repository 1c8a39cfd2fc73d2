import type { ServerResponse } from 'node:http';
import type { Engine } from '../engine/engine.js';
import type { TraceLevel } from '../tracing/trace_config.js';
import type { Tracing } from '../tracing/tracing.js';
import { HttpError } from './http_error.js';

/** A route besides generation: the methods it answers, and its answer. */
export interface AdminRoute {
  methods: readonly string[];
  answer: (res: ServerResponse, url: URL) => void;
}

/** Writes a JSON response whole. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * The probes, the model list, the metrics and the trace level. Liveness is
 * /health; readiness fails while draining, for balancers and Kubernetes probes.
 */
export function adminRoutes(engine: Engine, tracing: Tracing, o: { enableMetrics: boolean; draining: () => boolean }): Record<string, AdminRoute> {
  return {
    '/health': { methods: ['GET', 'HEAD'], answer: (res) => sendJson(res, 200, { status: 'ok' }) },
    '/ready': {
      methods: ['GET', 'HEAD'],
      answer: (res) => (o.draining() ? sendJson(res, 503, { status: 'draining' }, { 'Retry-After': '1' }) : sendJson(res, 200, { status: 'ready' })),
    },
    '/v1/models': {
      methods: ['GET', 'HEAD'],
      answer: (res) =>
        sendJson(res, 200, {
          object: 'list',
          data: [{ id: engine.spec.id, object: 'model', created: 0, owned_by: 'sgl', max_model_len: engine.spec.contextLength }],
        }),
    },
    '/metrics': {
      methods: ['GET', 'HEAD'],
      answer: (res) => {
        const metrics = tracing.metrics;
        if (!o.enableMetrics || !metrics)
          throw new HttpError(404, 'Metrics are off; start the server with --enable-metrics.', 'invalid_request_error', null, 'not_found');
        // The engine keeps the running/queued gauges current from each step's stats.
        const text = metrics.render();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
    },
    '/set_trace_level': {
      methods: ['GET', 'POST'],
      answer: (res, url) => {
        const raw = url.searchParams.get('level');
        if (raw === null || !/^[0-3]$/.test(raw.trim()))
          throw new HttpError(400, `level must be 0, 1, 2 or 3, got ${raw === null ? 'nothing' : JSON.stringify(raw)}.`, 'invalid_request_error', 'level');
        const level = Number(raw) as TraceLevel;
        tracing.setLevel(level);
        sendJson(res, 200, { level });
      },
    },
  };
}
