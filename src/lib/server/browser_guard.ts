import type { IncomingMessage } from 'node:http';
import { HttpError } from './http_error.js';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The hostname of a Host header (`name:port`, `[v6]:port`), lower-cased. */
function hostname(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(host.trim().toLowerCase());
  return m ? m[1] : '';
}

const forbidden = (message: string): HttpError => new HttpError(403, message, 'invalid_request_error', null, 'forbidden_origin');

/**
 * Keeps web pages away from the server, since any page the user opens can
 * send requests to 127.0.0.1. Local tools (curl, SDKs) send no Origin and
 * no Sec-Fetch-Site and pass; a browser request from a page passes only when
 * its origin is in `--allowed-origins`, and then gets CORS headers. On a
 * loopback address the Host header must name loopback too, which defeats
 * DNS rebinding (a page's own name resolving to 127.0.0.1).
 */
export class BrowserGuard {
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;
  private readonly loopbackOnly: boolean;

  constructor(allowedOrigins: readonly string[], boundHost: string) {
    this.anyOrigin = allowedOrigins.includes('*');
    this.origins = new Set(allowedOrigins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
    this.loopbackOnly = LOOPBACK_NAMES.has(boundHost.toLowerCase()) || boundHost.startsWith('127.');
  }

  /** Refuses requests from pages that are not allowed (403); returns the CORS headers an allowed page's request gets. */
  check(req: IncomingMessage): Record<string, string> {
    const host = req.headers.host;
    if (this.loopbackOnly && host !== undefined && !LOOPBACK_NAMES.has(hostname(host)) && !hostname(host).startsWith('127.')) {
      throw forbidden(
        `This server listens on loopback and answers only requests addressed to it (Host ${JSON.stringify(host)} is not); to serve other names, start it with --host.`,
      );
    }
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if (origin === undefined) {
      // A page's GET (<img>, <script>) carries no Origin, but browsers mark it with Sec-Fetch-Site.
      if (site === 'cross-site' || site === 'same-site') throw forbidden('Requests from web pages are refused; allow their origin with --allowed-origins.');
      return {};
    }
    if (this.anyOrigin || this.origins.has(origin.toLowerCase())) {
      return { 'Access-Control-Allow-Origin': this.anyOrigin ? '*' : origin, Vary: 'Origin' };
    }
    throw forbidden(`Requests from the web page at ${JSON.stringify(origin)} are refused; allow its origin with --allowed-origins.`);
  }
}

/** The answer to a CORS preflight from an allowed origin. */
export const PREFLIGHT_HEADERS = {
  'Access-Control-Allow-Methods': 'GET, POST, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, traceparent, tracestate',
  'Access-Control-Expose-Headers': 'X-Request-Id',
  'Access-Control-Max-Age': '600',
};
