import { connect } from 'node:net';

export interface RawReply {
  /** The status of the first response, or null when the server closed without one. */
  status: number | null;
  text: string;
}

/**
 * Sends bytes on a fresh TCP connection and collects what comes back until
 * the server closes, `idleMs` passes without data once a reply started, or
 * `limitMs` passes. For requests no HTTP client library would send.
 */
export function rawRequest(port: number, payload: Buffer | string, opts: { end?: boolean; limitMs?: number; idleMs?: number } = {}): Promise<RawReply> {
  const { end = true, limitMs = 5000, idleMs = 200 } = opts;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(limit);
      clearTimeout(idle);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, text });
    };
    const limit = setTimeout(finish, limitMs);
    socket.on('connect', () => (end ? socket.end(payload) : socket.write(payload)));
    socket.on('data', (d) => {
      chunks.push(d);
      clearTimeout(idle);
      idle = setTimeout(finish, idleMs);
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}
