import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey } from '../../src/lib/server/api_key.js';
import { rawRequest } from '../helpers/raw_http.js';
import type { TestServer } from '../helpers/server.js';
import { post, startServer, until } from '../helpers/server.js';

/** Connections that send headers and one byte of a 100-byte body, then nothing. */
async function slowBodies(port: number, count: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.write('POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
            resolve(socket);
          });
          socket.on('error', () => {});
        }),
    ),
  );
}

const portOf = (s: TestServer): number => Number(new URL(s.url).port);

describe('slow clients', () => {
  let s: TestServer;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await s.stop();
  });

  it('slow bodies hold connections, never generation slots', async () => {
    // 2 running + 2 queued slots, and more slow bodies than that.
    s = await startServer({ maxQueuedRequests: 2 }, {}, { maxRunningRequests: 2 });
    sockets.push(...(await slowBodies(portOf(s), 12)));
    const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hello', max_tokens: 3 }));
    expect(r.status).toBe(200);
    expect(s.server.running).toBe(0);
  });

  it('past --max-connections with every connection busy, a new connection gets a 503 that says so', async () => {
    s = await startServer({ maxConnections: 5 });
    sockets.push(...(await slowBodies(portOf(s), 5)));
    // Each has sent a whole request head (its body is slow): none is idle, so none may be evicted.
    await until(() => s.server.connections.open === 5 && s.server.connections.idle === 0);
    const r = await rawRequest(portOf(s), 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/Retry-After: 1/);
    expect(r.text).toMatch(/"code":"too_many_connections"/);
    for (const socket of sockets.splice(0)) socket.destroy();
    // The server counts a connection closed once its close event runs; wait for that, not a fixed time.
    let status = 0;
    for (let tries = 0; tries < 200 && status !== 200; tries++) {
      status = (await rawRequest(portOf(s), 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status ?? 0;
      if (status !== 200) await new Promise((done) => setTimeout(done, 10));
    }
    expect(status).toBe(200);
  });

  it('answers /health throughout a flood of 3,000 idle sockets past --max-connections 1,024: the longest idle are closed to make room', async () => {
    s = await startServer({ maxConnections: 1024 });
    const port = portOf(s);
    const flood: Socket[] = [];
    let opening = true;
    // 3,000 sockets that never send a byte, 100 at a time, while probes run.
    const opened = (async () => {
      for (let batch = 0; batch < 30; batch++) {
        for (let i = 0; i < 100; i++) {
          const socket = connect(port, '127.0.0.1');
          socket.on('error', () => {});
          flood.push(socket);
        }
        await new Promise((done) => setTimeout(done, 20));
      }
      opening = false;
    })();
    const statuses: (number | null)[] = [];
    while (opening) statuses.push((await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status);
    await opened;
    await until(() => s.server.connections.evicted >= 3000 - 1024);
    statuses.push((await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status);
    expect(statuses.length).toBeGreaterThan(3);
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    expect(s.server.connections.open).toBeLessThanOrEqual(1024);
    for (const socket of flood) socket.destroy();
  });

  it('a body that never completes gets a 408 with an OpenAI-style body', async () => {
    s = await startServer({ requestTimeoutMs: 500, headersTimeoutMs: 500 });
    const r = await rawRequest(
      portOf(s),
      'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      { end: false, limitMs: 10_000 },
    );
    expect(r.status).toBe(408);
    expect(r.text).toMatch(/"code":"request_timeout"/);
  });
});

describe('small hardening items', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ apiKey: 'sekret' });
  });
  afterAll(async () => {
    await s.stop();
  });
  const auth = { authorization: 'Bearer sekret' };

  it('a request line that is no URL is a 400, and the server stays up', async () => {
    for (const target of ['//[', '//a:99999/x']) {
      const r = await rawRequest(portOf(s), `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sekret\r\n\r\n`);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/"code":"bad_request"/);
    }
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it("malformed HTTP and an over-long header get JSON bodies, not Node's empty ones", async () => {
    const garbage = await rawRequest(portOf(s), 'GARBAGE\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(garbage.text).toMatch(/\{"error":\{"message":"The request is not valid HTTP/);
    const big = await rawRequest(portOf(s), `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(big.status).toBe(431);
    expect(big.text).toMatch(/"code":"headers_too_large"/);
    const noHost = await rawRequest(portOf(s), 'GET /health HTTP/1.1\r\n\r\n');
    expect(noHost.status).toBe(400);
    expect(noHost.text).toMatch(/needs a Host header/);
  });

  it('rids with control or non-ASCII characters are a 400 and leave no trace in the metrics', async () => {
    const before = s.tracing.metrics!.requests;
    for (const rid of ['a\u0001b', 'caf\u00e9', '\u2603', ' padded', 'x'.repeat(300), '']) {
      const r = await post(`${s.url}/generate`, JSON.stringify({ text: 'Hi', rid, sampling_params: { max_new_tokens: 1 } }), auth);
      expect(r.status, rid).toBe(400);
      expect((r.json.error as { param: string }).param).toBe('rid');
    }
    const ok = await post(`${s.url}/generate`, JSON.stringify({ text: 'Hi', rid: 'client-1 ok', sampling_params: { max_new_tokens: 1 } }), auth);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('client-1 ok');
    expect(s.tracing.metrics!.requests).toBe(before + 1);
  });

  it('/set_trace_level refuses empty and malformed levels', async () => {
    for (const q of ['level=', 'level=%20', 'level=1.0', 'level=0x1', 'level=4', 'lvl=1', '']) {
      const r = await fetch(`${s.url}/set_trace_level?${q}`, { method: 'POST', headers: auth });
      expect(r.status, q).toBe(400);
    }
    expect(s.tracing.level).toBe(0);
    const r = await fetch(`${s.url}/set_trace_level?level=2`, { method: 'POST', headers: auth });
    expect(await r.json()).toEqual({ level: 2 });
    s.tracing.setLevel(0);
  });

  it('takes the key in any scheme case and refuses near misses', async () => {
    const status = async (authorization: string): Promise<number> => (await fetch(`${s.url}/v1/models`, { headers: { authorization } })).status;
    expect(await status('Bearer sekret')).toBe(200);
    expect(await status('bearer sekret')).toBe(200);
    expect(await status('BEARER  sekret')).toBe(200);
    for (const wrong of ['Bearer sekre', 'Bearer sekrett', 'Basic sekret', 'sekret', 'Bearer', 'Bearer ']) expect(await status(wrong), wrong).toBe(401);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('admin routes answer only their methods, with Allow', async () => {
    for (const [path, method, allow] of [
      ['/health', 'DELETE', 'GET, HEAD'],
      ['/v1/models', 'POST', 'GET, HEAD'],
      ['/metrics', 'PUT', 'GET, HEAD'],
      ['/set_trace_level?level=1', 'DELETE', 'GET, POST'],
    ]) {
      const r = await fetch(`${s.url}${path}`, { method, headers: auth });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.get('allow')).toBe(allow);
    }
    expect((await fetch(`${s.url}/health`, { method: 'HEAD' })).status).toBe(200);
  });

  it('a temperature beyond a double is reported as sent, not as null', async () => {
    const r = await post(`${s.url}/v1/completions`, '{"prompt": "hi", "temperature": 1e309}', auth);
    expect(r.status).toBe(400);
    expect((r.json.error as { message: string }).message).toMatch(/temperature must be a finite number, got Infinity/);
  });

  it('an empty API key cannot be configured', () => {
    expect(() => new ApiKey('')).toThrow(/empty API key/);
  });
});
