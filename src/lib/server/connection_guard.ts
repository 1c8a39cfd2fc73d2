import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError } from './http_error.js';

/** A whole HTTP/1.1 response written straight to a socket, for when Node's parser has no response object to give. */
function rawResponse(err: HttpError): string {
  const body = JSON.stringify(err.body());
  const extra = Object.entries(err.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
}

/** Node's parser errors, answered the way every other sgl error is (Node's own answers have empty bodies). */
function parserError(code: string | undefined): HttpError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HttpError(431, 'The request headers are too large.', 'invalid_request_error', null, 'headers_too_large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpError(
        408,
        'The request was not received in time (see sgl serve --headers-timeout and --request-timeout).',
        'invalid_request_error',
        null,
        'request_timeout',
      );
    default:
      return new HttpError(400, `The request is not valid HTTP/1.1 (${code ?? 'parse error'}).`, 'invalid_request_error', null, 'bad_request');
  }
}

/**
 * Guards a server's sockets: at most `maxConnections` open at once, and
 * malformed HTTP answered with an OpenAI-style body instead of Node's empty
 * one. When the cap is reached, a new connection evicts the connection that
 * has been idle longest (one that has not sent a complete request head, or
 * is between requests on keep-alive): a flood of sockets that never send a
 * byte cannot lock out a liveness probe, while connections with a request
 * in progress are never cut. Only when every connection is busy does the
 * new one get a 503 (closed before any request on it is read).
 */
export class ConnectionGuard {
  private open = 0;
  private readonly refused = new WeakSet<Socket>();
  /** Open connections with no request in progress, the longest idle first (a Set keeps insertion order). */
  private readonly idle = new Set<Socket>();
  /** Requests in progress per socket (pipelining can make it more than one). */
  private readonly busy = new WeakMap<Socket, number>();
  /** Connections evicted to make room; counted out when evicted, not again when they close. */
  private readonly evicted = new WeakSet<Socket>();
  /** Connections evicted so far (for /metrics and tests). */
  evictions = 0;

  constructor(
    server: Server,
    private readonly maxConnections: number,
  ) {
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.started(req.socket, res));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && socket.bytesWritten === 0 && err.code !== 'ECONNRESET') socket.end(rawResponse(parserError(err.code)));
      socket.destroy();
    });
  }

  /** Whether a request arrived on a socket that was already turned away (its 503 is written). */
  refusedSocket(socket: Socket): boolean {
    return this.refused.has(socket);
  }

  /** Connections open, and how many of them have no request in progress. */
  get connections(): { open: number; idle: number } {
    return { open: this.open, idle: this.idle.size };
  }

  private started(socket: Socket, res: ServerResponse): void {
    this.idle.delete(socket);
    this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (this.busy.get(socket) ?? 1) - 1;
      this.busy.set(socket, left);
      // Between requests on keep-alive: idle again, the newest idle.
      if (left === 0 && !socket.destroyed && !this.evicted.has(socket) && !this.refused.has(socket)) this.idle.add(socket);
    });
  }

  private admit(socket: Socket): void {
    if (this.open >= this.maxConnections) {
      const oldest = this.idle.values().next();
      if (!oldest.done) {
        this.evict(oldest.value);
      } else {
        this.refused.add(socket);
        const err = new HttpError(
          503,
          `The server has ${this.open} connections open, its limit (--max-connections), each with a request in progress; retry shortly.`,
          'server_error',
          null,
          'too_many_connections',
          { 'Retry-After': '1' },
        );
        socket.end(rawResponse(err));
        return;
      }
    }
    this.open++;
    this.idle.add(socket);
    socket.once('close', () => {
      this.idle.delete(socket);
      if (!this.evicted.has(socket)) this.open--;
    });
  }

  /** Closes an idle connection to make room: it has no request in progress, so nothing is lost. */
  private evict(socket: Socket): void {
    this.idle.delete(socket);
    this.evicted.add(socket);
    this.open--;
    this.evictions++;
    socket.destroy();
  }
}
