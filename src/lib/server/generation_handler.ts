import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, RequestContext } from '../engine/engine.js';
import type { RequestStream } from '../engine/request_stream.js';
import { InvalidRequestError } from '../errors.js';
import type { Usage } from '../protocol.js';
import { HttpError } from './http_error.js';
import type { ParsedRequest } from './openai_request.js';
import type { Choice, ResponseFormat } from './response_formats.js';
import { perRequestMetrics } from './per_request_metrics.js';

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

const aborted = (): HttpError =>
  new HttpError(
    503,
    'The request was aborted by the server before it finished (it is shutting down or failed); retry it.',
    'server_error',
    null,
    'request_aborted',
  );

/**
 * Starts the request's n choices, each an engine request of its own (the
 * prefix cache lets the later ones reuse the first one's prompt). A seeded
 * request gives choice i the seed + i, so its choices differ and each is
 * reproducible. If one cannot start, those started are aborted.
 */
async function startChoices(engine: Engine, parsed: ParsedRequest, context: RequestContext): Promise<RequestStream[]> {
  const streams: RequestStream[] = [];
  const seed = parsed.req.sampling?.seed;
  try {
    for (let i = 0; i < parsed.n; i++) {
      const sampling = i > 0 && typeof seed === 'number' ? { ...parsed.req.sampling, seed: (seed + i) % 2 ** 32 } : parsed.req.sampling;
      streams.push(await engine.generate(i === 0 ? parsed.req : { ...parsed.req, rid: undefined, sampling }, context));
    }
  } catch (err) {
    for (const s of streams) engine.abort(s.rid);
    if (err instanceof InvalidRequestError) throw new HttpError(400, err.message, 'invalid_request_error', err.wireParam, err.code);
    throw err;
  }
  return streams;
}

/**
 * Runs one generation for an HTTP request and writes its response, streamed
 * as server-sent events or as one JSON body. Writes happen inside the
 * iteration, so the trace's respond stage covers them: the last choice to
 * finish writes the body (or the stream's end). A client that goes away
 * aborts its request; the engine frees its slots within a step.
 */
export async function handleGeneration(
  engine: Engine,
  req: IncomingMessage,
  res: ServerResponse,
  parsed: ParsedRequest,
  format: (rid: string) => ResponseFormat,
  context: RequestContext,
  /** Add vLLM's per-request `metrics` (include_metrics, allowed by the server); computed from the same timing as include_timing. */
  withMetrics = false,
): Promise<void> {
  const streams = await startChoices(engine, parsed, context);
  const rid = streams[0].rid;
  const fmt = format(rid);
  const started = performance.now();
  const abortAll = (): void => {
    for (const s of streams) if (!s.done) engine.abort(s.rid);
  };
  res.on('close', abortAll);
  // A client that left while its request was being tokenized aborts it now.
  if (res.destroyed) abortAll();
  if (!res.hasHeader('X-Request-Id')) res.setHeader('X-Request-Id', rid);

  const choices: Choice[] = streams.map(() => ({ text: '', tokenIds: [], finish: 'abort', logprobs: parsed.req.logprobs === undefined ? null : [] }));
  const usages: Usage[] = streams.map((s) => ({ promptTokens: s.promptTokens, completionTokens: 0, cachedTokens: 0 }));
  let unfinished = streams.length;
  // The prompt counts once; its cached tokens are those of the first choice, the one that paid for it.
  const usage = (): Usage => ({
    promptTokens: usages[0].promptTokens,
    completionTokens: usages.reduce((sum, u) => sum + u.completionTokens, 0),
    cachedTokens: usages[0].cachedTokens,
  });
  if (parsed.stream) {
    // X-Accel-Buffering: nginx (and proxies that copy it) would otherwise buffer the stream and deliver tokens in bursts.
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    // The headers leave now, not with the first token: the client learns at once that its request was taken.
    res.flushHeaders();
    if (fmt.start) for (let i = 0; i < streams.length; i++) await sendEvent(res, fmt.start(i));
  }

  const choiceTimings = () => choices.map((c) => c.timing);
  const choiceTokens = () => usages.map((u) => u.completionTokens);
  /**
   * The stream's last events before [DONE]: the usage chunk (include_usage), carrying vLLM's `metrics`
   * when they were asked for (or a chunk of its own with them, as vLLM sends them in the last message).
   */
  const tail = (): object[] => {
    const metrics = withMetrics && fmt.usage ? perRequestMetrics(choiceTimings(), choiceTokens()) : null;
    if (!fmt.usage || (!parsed.includeUsage && !metrics)) return [];
    const { usage: u, ...head } = fmt.usage(usage()) as { usage: object };
    return [{ ...head, ...(parsed.includeUsage ? { usage: u } : {}), ...(metrics ? { metrics } : {}) }];
  };
  const run = async (stream: RequestStream, i: number): Promise<void> => {
    const choice = choices[i];
    for await (const chunk of stream) {
      choice.text += chunk.text;
      for (const t of chunk.tokenIds) choice.tokenIds.push(t);
      if (chunk.logprobs) for (const lp of chunk.logprobs) choice.logprobs?.push(lp);
      usages[i] = chunk.usage;
      const last = chunk.finishReason !== null && --unfinished === 0;
      if (chunk.finishReason) choice.finish = chunk.finishReason;
      if (chunk.timing) {
        choice.timing = chunk.timing;
        // Asked for by include_metrics alone: the choices keep the OpenAI shape.
        if (!parsed.includeTiming) chunk.timing = undefined;
      }
      if (chunk.finishReason === 'abort' && fmt.abortIsError) throw aborted();
      if (res.destroyed || res.writableEnded) continue;
      if (parsed.stream && !last) {
        await sendEvent(res, fmt.chunk(chunk, choice.text, i));
      } else if (parsed.stream) {
        // The stream's end: the request ends when its last event is issued.
        const events = [fmt.chunk(chunk, choice.text, i), ...tail(), ...(fmt.done ? ['[DONE]'] : [])];
        for (let k = 0; k < events.length; k++) {
          if (k === events.length - 1) stream.markFinalWrite();
          await sendEvent(res, events[k]);
        }
        res.end();
      } else if (last) {
        const shown = parsed.includeTiming ? choices : choices.map(({ timing: _timing, ...c }) => c);
        const whole = fmt.whole(shown, usage(), performance.now() - started);
        const metrics = withMetrics ? perRequestMetrics(choiceTimings(), choiceTokens()) : null;
        const body = JSON.stringify(metrics ? { ...whole, metrics } : whole);
        stream.markFinalWrite();
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      }
    }
  };
  try {
    await Promise.all(streams.map(run));
  } catch (err) {
    abortAll();
    throw err;
  }
}
