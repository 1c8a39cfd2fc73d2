import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, RequestContext } from '../engine/engine.js';
import { InvalidRequestError } from '../errors.js';
import type { FinishReason, Usage } from '../protocol.js';
import { HttpError } from './http_error.js';
import type { ParsedRequest } from './openai_request.js';
import type { ResponseFormat } from './response_formats.js';

/** Writes one server-sent event; resolves once the socket takes more (backpressure). */
function sendEvent(res: ServerResponse, data: object | string): Promise<void> | void {
  const ok = res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  if (ok || res.destroyed) return;
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Runs one generation for an HTTP request and writes its response, streamed
 * as server-sent events or as one JSON body. Writes happen inside the
 * iteration, so the trace's respond stage covers them. A client that goes
 * away aborts its request; the engine frees its slot within a step.
 */
export async function handleGeneration(
  engine: Engine,
  req: IncomingMessage,
  res: ServerResponse,
  parsed: ParsedRequest,
  format: (rid: string) => ResponseFormat,
  context: RequestContext,
): Promise<void> {
  let stream;
  try {
    stream = await engine.generate(parsed.req, context);
  } catch (err) {
    if (err instanceof InvalidRequestError) throw new HttpError(400, err.message, 'invalid_request_error', err.wireParam, err.code);
    throw err;
  }
  const rid = stream.rid;
  const fmt = format(rid);
  const started = performance.now();
  let finished = false;
  res.on('close', () => {
    if (!finished) engine.abort(rid);
  });
  // A client that left while its request was being tokenized aborts it now.
  if (res.destroyed) engine.abort(rid);
  res.setHeader('X-Request-Id', rid);

  let text = '';
  const tokenIds: number[] = [];
  let usage: Usage = { promptTokens: stream.promptTokens, completionTokens: 0, cachedTokens: 0 };
  let finish: FinishReason = 'abort';
  if (parsed.stream) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    if (fmt.start) await sendEvent(res, fmt.start());
  }
  for await (const chunk of stream) {
    text += chunk.text;
    for (const t of chunk.tokenIds) tokenIds.push(t);
    usage = chunk.usage;
    if (chunk.finishReason) {
      finish = chunk.finishReason;
      finished = true;
    }
    if (res.destroyed) continue;
    if (parsed.stream) {
      await sendEvent(res, fmt.chunk(chunk, text));
      if (chunk.finishReason) {
        if (parsed.includeUsage && fmt.usage) await sendEvent(res, fmt.usage(usage));
        if (fmt.done) await sendEvent(res, '[DONE]');
        res.end();
      }
    } else if (chunk.finishReason) {
      const body = JSON.stringify(fmt.whole(text, tokenIds, finish, usage, performance.now() - started));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    }
  }
  finished = true;
}
