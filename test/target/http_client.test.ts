import { Agent, createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/lib/benchmark/run_bench.js';
import { loadModelSpec } from '../../src/lib/engine/model_dir.js';
import { TextTokenizer } from '../../src/lib/engine/tokenizer/tokenizer.js';
import type { BenchOptions } from '../../src/lib/benchmark/run_bench.js';
import type { Endpoint } from '../../src/lib/target/openai_stream.js';

/**
 * A scripted OpenAI-compatible server: every response streams CHUNKS events
 * with content, the first TTFT_MS after the request arrived, then one every
 * GAP_MS, in one of several flavours real servers produce. It records when
 * it really wrote each event, so the test holds the client's figures to what
 * happened on the wire, not to what the timers were asked for.
 */
interface Flavour {
  name: string;
  endpoint: Endpoint;
  /** Line end of every field: SSE allows LF, CRLF and CR. */
  eol?: string;
  /** Chat: a role-only delta first, before any content (what sgl serve, vLLM and OpenAI send). */
  roleFirst?: boolean;
  /** Comments and keep-alives between events, and JSON split over several data: lines. */
  noise?: boolean;
  /** Tokens each content event carries. */
  tokensPerChunk?: number;
  /** Each event written in two halves, one event-loop turn apart. */
  splitWrites?: boolean;
  /** Send usage at the end (else the client counts tokens from the text). */
  usage?: boolean;
  /** An error event after this many content events. */
  errorAfter?: number;
}

const CHUNKS = 8;
const TTFT_MS = 30;
const GAP_MS = 8;
const REQUESTS = 20;

interface Written {
  /** ms from the request's arrival to the write that completed each content event. */
  content: number[];
  /** ms from arrival to the end of the stream ([DONE]). */
  end: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function scriptedServer(f: Flavour): { start(): Promise<string>; stop(): Promise<void>; written: Written[] } {
  const written: Written[] = [];
  const eol = f.eol ?? '\n';
  const event = (json: unknown): string => {
    const text = JSON.stringify(json);
    if (!f.noise) return `data: ${text}${eol}${eol}`;
    // The spec joins data lines with LF, which JSON reads as whitespace.
    const cut = text.indexOf(',') + 1;
    return `: comment before the event${eol}data: ${text.slice(0, cut)}${eol}data: ${text.slice(cut)}${eol}${eol}`;
  };
  const chunk = (i: number): unknown => {
    const text = Array.from({ length: f.tokensPerChunk ?? 1 }, (_, k) => ` w${i}_${k}`).join('');
    return f.endpoint === 'chat'
      ? { id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] }
      : { id: 'x', object: 'text_completion', choices: [{ index: 0, text, finish_reason: null }] };
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, t0: number): Promise<void> => {
    const send = async (s: string): Promise<number> => {
      if (f.splitWrites) {
        const half = s.length >> 1;
        res.write(s.slice(0, half));
        await turn();
        s = s.slice(half);
      }
      const t = performance.now() - t0;
      res.write(s);
      return t;
    };
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (f.roleFirst)
      await send(event({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }));
    if (f.noise) res.write(`: keep-alive${eol}${eol}`);
    const w: Written = { content: [], end: 0 };
    for (let i = 0; i < CHUNKS; i++) {
      // Not before its time: a timer may fire up to a millisecond early (libuv counts whole milliseconds from a
      // loop time that a busy machine leaves stale), and the TTFT check below needs the first write at TTFT_MS or later.
      const at = i === 0 ? TTFT_MS : w.content[i - 1] + GAP_MS;
      while (performance.now() - t0 < at) await sleep(Math.ceil(at - (performance.now() - t0)));
      if (f.errorAfter !== undefined && i === f.errorAfter) {
        await send(event({ error: { message: 'KV cache exhausted', type: 'server_error' } }));
        res.end();
        return;
      }
      w.content.push(await send(event(chunk(i))));
      if (f.noise) res.write(`:${eol}${eol}`);
    }
    const tokens = CHUNKS * (f.tokensPerChunk ?? 1);
    if (f.usage !== false) await send(event({ id: 'x', choices: [], usage: { prompt_tokens: 5, completion_tokens: tokens, total_tokens: tokens + 5 } }));
    w.end = await send(`data: [DONE]${eol}${eol}`);
    res.end();
    written.push(w);
  };
  let server: Server;
  return {
    written,
    async start() {
      server = createServer((req, res) => {
        const t0 = performance.now();
        if (req.url === '/ping') {
          req.resume();
          req.on('end', () => {
            setTimeout(() => {
              res.setHeader('x-wrote-at', String(performance.now() - t0));
              res.end('{}');
            }, TTFT_MS);
          });
          return;
        }
        if (req.method === 'GET' && req.url === '/v1/models') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ object: 'list', data: [{ id: 'scripted', object: 'model' }] }));
          return;
        }
        req.resume();
        req.on('end', () => void handle(req, res, t0));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * What a bare node:http client sees beyond the server's own clock when the
 * answer comes TTFT_MS after the request: the trip there and back, and the
 * wake-up of an idle process at each end. A client-side TTFT and E2E rightly
 * include it (about 1.5 ms on this 2-core VM, even on 127.0.0.1); what the
 * bench client adds beyond it is what the test bounds.
 */
async function roundTripMs(url: string): Promise<number> {
  const agent = new Agent({ keepAlive: true });
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(`${url}/ping`, { method: 'POST', agent, headers: { 'content-length': 2 } }, (res) => {
        const wroteAt = Number(res.headers['x-wrote-at']);
        res.once('data', () => resolve(performance.now() - t0 - wroteAt));
        res.resume();
      });
      req.on('error', reject);
      req.end('{}');
    });
  const times: number[] = [];
  for (let i = 0; i < 25; i++) times.push(await once());
  agent.destroy();
  return median(times.slice(5));
}

function options(url: string, endpoint: Endpoint): BenchOptions {
  return {
    urls: [url],
    endpoint,
    engine: {},
    tracing: { level: 0, modules: ['request'], sampleRate: 1, includeContent: false },
    workload: { dataset: 'random', count: REQUESTS, seed: 1, inputLen: 8, outputLen: CHUNKS, rangeRatio: 1 },
    driver: { requestRate: Infinity, burstiness: 1, maxConcurrency: 1, seed: 1, warmup: 3, replayArrivals: false },
    slo: null,
    compareLevels: null,
    repeats: 1,
    targetCi: null,
    budgetMs: 0,
  };
}

const FLAVOURS: Flavour[] = [
  { name: 'completions', endpoint: 'completions' },
  { name: 'chat with a role-only first chunk', endpoint: 'chat', roleFirst: true },
  { name: 'CRLF line ends', endpoint: 'completions', eol: '\r\n' },
  { name: 'CR line ends, chat', endpoint: 'chat', eol: '\r', roleFirst: true },
  { name: 'comments, keep-alives and multi-line data', endpoint: 'chat', roleFirst: true, noise: true },
  { name: 'three tokens a chunk, events split across writes', endpoint: 'completions', tokensPerChunk: 3, splitWrites: true },
];

describe('the bench HTTP client against a scripted SSE server', () => {
  const servers: { stop(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  for (const f of FLAVOURS) {
    it(`measures TTFT, each ITL and E2E as written on the wire: ${f.name}`, async () => {
      const server = scriptedServer(f);
      servers.push(server);
      const url = await server.start();
      const before = await roundTripMs(url);
      const result = await runBench(options(url, f.endpoint));
      const rtt = (before + (await roundTripMs(url))) / 2;
      expect(result.metrics.failed).toBe(0);
      expect(result.metrics.completed).toBe(REQUESTS);
      const measured = server.written.slice(-REQUESTS); // after the warm-ups
      const tokens = CHUNKS * (f.tokensPerChunk ?? 1);
      for (const o of result.outcomes) {
        expect(o.outputTokens).toBe(tokens);
        expect(o.itlMs).toHaveLength(CHUNKS - 1); // one per chunk with content, however many tokens it carries
      }
      // Each request's figure against what its own stream put on the wire. The median of those differences:
      // a single scheduling hiccup of a 2-core VM running the suite in parallel would move a mean of 20 by half a
      // millisecond, while every client error worth catching (a role chunk taken for content, an event held back
      // until the next one, fetch's own overhead) moves the median by milliseconds.
      expect(Math.abs(median(result.outcomes.map((o, i) => o.ttftMs! - measured[i].content[0])) - rtt)).toBeLessThan(1);
      expect(median(result.outcomes.map((o) => o.ttftMs!))).toBeGreaterThanOrEqual(TTFT_MS); // never the role chunk's time
      const itl = result.outcomes.flatMap((o, i) => o.itlMs.map((x, k) => x - (measured[i].content[k + 1] - measured[i].content[k])));
      expect(Math.abs(median(itl))).toBeLessThan(1);
      expect(Math.abs(median(result.outcomes.map((o, i) => o.e2eMs - measured[i].end)) - rtt)).toBeLessThan(1);
      // TPOT as bench_serving defines it: (E2E − TTFT) / (output tokens − 1).
      expect(result.metrics.tpot_ms.mean).toBeCloseTo(mean(result.outcomes.map((o) => (o.e2eMs - o.ttftMs!) / (tokens - 1))), 6);
    });
  }

  it('counts an error event mid-stream as a failure with its reason', async () => {
    const server = scriptedServer({ name: 'error', endpoint: 'chat', roleFirst: true, errorAfter: 3 });
    servers.push(server);
    const result = await runBench(options(await server.start(), 'chat'));
    expect(result.metrics.completed).toBe(0);
    expect(result.metrics.failed).toBe(REQUESTS);
    expect(result.metrics.failures).toEqual([{ kind: 'KV cache exhausted', count: REQUESTS, example: 'KV cache exhausted' }]);
  });

  it('counts the output from the text when the server sends no usage', async () => {
    const server = scriptedServer({ name: 'no usage', endpoint: 'completions', tokensPerChunk: 2, usage: false });
    servers.push(server);
    const result = await runBench({
      ...options(await server.start(), 'completions'),
      workload: { dataset: 'random', count: 3, seed: 1, inputLen: 8, outputLen: CHUNKS, rangeRatio: 1 },
    });
    expect(result.metrics.completed).toBe(3);
    const tokenizer = new TextTokenizer(loadModelSpec(undefined));
    const text = Array.from({ length: CHUNKS }, (_, i) => ` w${i}_0 w${i}_1`).join('');
    for (const o of result.outcomes) expect(o.outputTokens).toBe(tokenizer.encode(text, false).length);
    expect(tokenizer.encode(text, false).length).not.toBe(CHUNKS); // not the chunk count
  });
});
