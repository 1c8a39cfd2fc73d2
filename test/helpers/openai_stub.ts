import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** The per-request metrics the stub answers include_metrics with (vLLM's shape). */
export const STUB_METRICS = { time_to_first_token_ms: 1.5, generation_time_ms: 9.5, queue_time_ms: 0.25, mean_itl_ms: 2, tokens_per_second: 400 };

/** What the stub does with the n-th generation request (0-based): stream `tokens` tokens, or answer `status` with `message`. */
export type StubAnswer = { tokens: number } | { status: number; message: string };

/**
 * A minimal OpenAI-compatible server that logs every generation request
 * (path, headers, body) and answers as the test scripts it: a streamed
 * completion with usage, or an OpenAI-style error.
 */
export async function startOpenAiStub(
  answer: (n: number, req: StubRequest) => StubAnswer,
): Promise<{ url: string; log: StubRequest[]; stop(): Promise<void> }> {
  const log: StubRequest[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'stub', object: 'model' }] }));
      return;
    }
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const entry = { path: req.url ?? '', headers: req.headers, body: JSON.parse(raw || '{}') as Record<string, unknown> };
      const a = answer(log.length, entry);
      log.push(entry);
      if ('status' in a) {
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'error', error: { message: a.message, type: 'invalid_request_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < a.tokens; i++) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: ` t${i}` }] })}\n\n`);
      // As vLLM with --enable-per-request-metrics: include_metrics puts its metrics object in the last chunk.
      const metrics = entry.body.include_metrics === true ? { metrics: STUB_METRICS } : {};
      res.write(
        `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: a.tokens, total_tokens: 4 + a.tokens }, ...metrics })}\n\n`,
      );
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
