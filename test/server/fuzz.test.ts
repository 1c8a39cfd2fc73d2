import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/stats/rng.js';
import { rawRequest } from '../helpers/raw_http.js';
import type { TestServer } from '../helpers/server.js';
import { startServer } from '../helpers/server.js';

const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'post', 'G\u00e9T', '', 'POST POST', '\u0000'];
const TARGETS = [
  '//[',
  '//a:99999/x',
  '/v1/completions',
  '/v1/chat/completions',
  '/generate',
  '/health',
  '/metrics',
  '/v1/models',
  '/set_trace_level?level=',
  '/set_trace_level?level=9',
  '/set_trace_level?level=%',
  '/%zz',
  '/generate?%%',
  '*',
  'http://[::1',
  'http://x:0/health',
  '/health#frag',
  '/\u00ff\u00fe',
  '/a\tb',
  '/../../etc/passwd',
  '/__proto__',
  '/constructor',
  `/${'a'.repeat(9000)}`,
  '',
];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', '', 'HTTP/1.1 trailing', 'http/1.1'];
const HEADERS = [
  'Host: x',
  'Host: 127.0.0.1',
  'Content-Type: application/json',
  'Content-Type: text/plain',
  'Authorization: bearer x',
  'Authorization: Basic Zm9v',
  'traceparent: 00-00000000000000000000000000000000-0000000000000000-00',
  'traceparent: garbage',
  'tracestate: ,,,=,',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked',
  'Content-Length: -1',
  'Content-Length: abc',
  'Content-Length: 99999999999999',
  'Content-Length: 1, 2',
  'Expect: 100-continue',
  'Connection: upgrade',
  'Upgrade: websocket',
  'X-Ctl: a\u0001b',
  'X-Latin: \u00e9\u00ff',
  'X-Big: ' + 'b'.repeat(20000),
  'NoColonHeader',
  ': empty-name',
  ' leading-space: x',
  'X-Null: \u0000',
];
const VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  'HUGE',
  2 ** 53,
  'x',
  '',
  '\u0000\u001b]0;hi\u0007',
  '\ud800',
  [],
  [1, 2],
  [-1],
  ['a', 'b'],
  {},
  { a: 1 },
  'a'.repeat(300),
  [{ role: 'user', content: 'hi' }],
  [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
  [{ role: 'nobody', content: 'x' }],
  [null],
];
const TEMPLATES: Record<string, unknown>[] = [
  { prompt: 'Hello', max_tokens: 2 },
  { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, stream: true },
  { text: 'Hello', sampling_params: { max_new_tokens: 2 }, rid: 'fuzz' },
  { prompt: [1, 2, 3], max_tokens: 1, stream: true, stream_options: { include_usage: true } },
];
const FIELDS = [
  'prompt',
  'messages',
  'text',
  'input_ids',
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'seed',
  'stop',
  'stream',
  'stream_options',
  'rid',
  'model',
  'n',
  'logprobs',
  'sampling_params',
  'stop_token_ids',
  'ignore_eos',
  '__proto__',
  'constructor',
];

/** One malformed or hostile request: a request line, headers and a body, each mutated from plausible ones. */
function fuzzCase(rng: Rng): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng.next() * list.length)];
  const body = ((): string => {
    const roll = rng.next();
    if (roll < 0.1) return Buffer.from(Array.from({ length: Math.floor(rng.next() * 64) }, () => Math.floor(rng.next() * 256))).toString('latin1');
    const doc: Record<string, unknown> = JSON.parse(JSON.stringify(pick(TEMPLATES)));
    for (let k = Math.floor(rng.next() * 3); k >= 0; k--) doc[pick(FIELDS)] = pick(VALUES);
    // Generation stays short whatever the mutations did.
    if (typeof doc.max_tokens !== 'number' || doc.max_tokens > 2) doc.max_tokens = 2;
    // JSON.stringify cannot write a number beyond a double; the text can.
    const text = JSON.stringify(doc).replaceAll('"HUGE"', '-1e309');
    return roll < 0.3 ? text.slice(0, Math.floor(rng.next() * text.length)) : text;
  })();
  const line = `${pick(METHODS)} ${pick(TARGETS)} ${pick(VERSIONS)}`;
  const headers = Array.from({ length: Math.floor(rng.next() * 4) }, () => pick(HEADERS));
  if (rng.next() < 0.8) headers.push(`Content-Length: ${Buffer.byteLength(body, 'latin1') + (rng.next() < 0.1 ? 5 : 0)}`);
  if (rng.next() < 0.8) headers.push('Host: 127.0.0.1', 'Content-Type: application/json');
  const sep = rng.next() < 0.95 ? '\r\n' : pick(['\n', '\r', '\r\r\n']);
  return Buffer.from(`${line}${sep}${headers.join(sep)}${sep}${sep}${body}`, 'latin1');
}

describe('fuzzed request lines, headers and bodies', () => {
  let s: TestServer;
  let port: number;
  beforeAll(async () => {
    s = await startServer({ maxBodyBytes: 64 * 1024, maxQueuedRequests: 1024, requestTimeoutMs: 2000 }, {}, { maxRunningRequests: 64 });
    port = Number(new URL(s.url).port);
  });
  afterAll(async () => {
    await s.stop();
  });

  it('answers /health after every batch of 10,000 cases and never crashes', async () => {
    const rng = new Rng(20);
    const statuses = new Map<string, number>();
    const CASES = 10_000;
    const BATCH = 250;
    for (let sent = 0; sent < CASES; sent += BATCH) {
      const cases = Array.from({ length: BATCH }, () => fuzzCase(rng));
      const replies = await Promise.all(cases.map((c) => rawRequest(port, c, { limitMs: 5000 })));
      for (const [n, r] of replies.entries()) {
        const key = String(r.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        // Every error body the server writes is OpenAI-style JSON (HEAD answers carry none).
        const errorBody = r.status !== null && r.status >= 400 ? r.text.slice(r.text.indexOf('\r\n\r\n') + 4) : '';
        if (errorBody !== '' && !/^\{"error":\{"message":/.test(errorBody))
          throw new Error(JSON.stringify(r.text) + JSON.stringify(cases[n].toString('latin1').slice(0, 300)));
      }
      const health = await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(5000) });
      expect(health.status).toBe(200);
    }
    expect(statuses.get('500') ?? 0).toBe(0);
    // The generator reaches the routes, not only the parser.
    for (const status of ['200', '400', '404', '405']) expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
    const good = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Hello', max_tokens: 3 }),
    });
    expect(good.status).toBe(200);
  }, 240_000);
});
