import { STATUS_CODES } from 'node:http';
import type { Server } from 'node:http';
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
 * Guards a server's sockets: at most `maxConnections` open at once (one more
 * gets a 503 and is closed before any request on it is read), and malformed
 * HTTP answered with an OpenAI-style body instead of Node's empty one.
 */
export class ConnectionGuard {
  private open = 0;
  private readonly refused = new WeakSet<Socket>();

  constructor(
    server: Server,
    private readonly maxConnections: number,
  ) {
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && socket.bytesWritten === 0 && err.code !== 'ECONNRESET') socket.end(rawResponse(parserError(err.code)));
      socket.destroy();
    });
  }

  /** Whether a request arrived on a socket that was already turned away (its 503 is written). */
  refusedSocket(socket: Socket): boolean {
    return this.refused.has(socket);
  }

  private admit(socket: Socket): void {
    if (this.open >= this.maxConnections) {
      this.refused.add(socket);
      const err = new HttpError(
        503,
        `The server has ${this.open} connections open, its limit (--max-connections); retry shortly.`,
        'server_error',
        null,
        'too_many_connections',
        { 'Retry-After': '1' },
      );
      socket.end(rawResponse(err));
      return;
    }
    this.open++;
    socket.once('close', () => this.open--);
  }
}
