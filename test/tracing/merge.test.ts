import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endToEnd } from '../../src/lib/analysis/end_to_end.js';
import type { FinishedRequest } from '../../src/lib/tracing/finished_request.js';
import { Capture } from '../../src/lib/tracing/trace_file/capture.js';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { TraceFileWriter } from '../../src/lib/tracing/trace_file/writer.js';
import { runCli } from '../helpers/cli.js';
import { OtlpReceiver } from '../helpers/otlp_receiver.js';
import { startServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-merge-'));
const serverFile = join(dir, 'server.json');
const clientFile = join(dir, 'client.json');
const PROMPTS = 6;

const requests = (path: string): FinishedRequest[] => [...new Capture(path, () => {}).requests()];

/**
 * A client (sgl bench --url, a child process) and a server (in this
 * process), both tracing into files on one machine, then merged.
 */
describe('client traces and sgl trace merge', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({}, { level: 2, exporters: [new TraceFileWriter(serverFile)] });
    const bench = await runCli([
      'bench',
      '--url',
      s.url,
      '--num-prompts',
      String(PROMPTS),
      '--random-output-len',
      '6',
      '--warmup',
      '1',
      '--trace-level',
      '3',
      '--trace-file',
      clientFile,
    ]);
    expect(bench.stderr).not.toMatch(/Error/);
    expect(bench.code).toBe(0);
    await s.stop();
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('the client traces its side of each request and the server continues its trace', () => {
    const client = readTraceFile(clientFile);
    expect(client.header).toMatchObject({ role: 'client', trace: { modules: ['client'] }, model: { dir: s.url } });
    expect(typeof client.header!.timeOrigin).toBe('number');
    const mine = requests(clientFile);
    expect(mine).toHaveLength(PROMPTS);
    const server = requests(serverFile);
    for (const r of mine) {
      expect(r.client).toBe(true);
      const names = new Set(
        readTraceFile(clientFile)
          .events.filter((e) => e.args?.rid === r.rid && e.ph === 'X')
          .map((e) => e.name),
      );
      for (const stage of ['send', 'wait_response', 'wait_first_token', 'stream']) expect(names).toContain(stage);
      // The server's request is a child of the client's root span, in the client's trace.
      const theirs = server.find((q) => q.traceId === r.traceId);
      expect(theirs?.parentSpanId).toBe(r.rootSpanId);
    }
    // The warm-up is not the workload: untraced on the client, so the server started a trace of its own.
    expect(server.filter((q) => q.parentSpanId === null)).toHaveLength(1);
  });

  it('merges by trace id: each client request holds its server side, on one clock', async () => {
    const merged = join(dir, 'merged.json');
    const out = await runCli(['trace', 'merge', clientFile, serverFile, '-o', merged, '--json']);
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as { joined: number; clientOnly: number; serverOnly: number; captures: { role: string; clock: string }[] };
    expect(result).toMatchObject({ joined: PROMPTS, clientOnly: 0, serverOnly: 1 });
    expect(result.captures.map((c) => c.role)).toEqual(['client', 'server']);
    expect(result.captures[1].clock).toMatch(/^wall clock \(same host/);
    const all = requests(merged);
    const joined = all.filter((r) => r.remote);
    expect(joined).toHaveLength(PROMPTS);
    for (const r of joined) {
      const [server] = r.remote!;
      expect(server.traceId).toBe(r.traceId);
      // The server received the request after the client sent it, and wrote its last byte before the client read it.
      expect(server.start).toBeGreaterThanOrEqual(r.start);
      expect(server.end).toBeLessThanOrEqual(r.end);
      expect(server.worker.length).toBeGreaterThan(0);
      // Every millisecond of the client's E2E is in one place.
      const split = endToEnd(r)!;
      const sum = split.networkMs + split.serverOtherMs + Object.values(split.serverStages).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(split.clientE2eMs, 6);
      expect(split.serverStages.decode_loop).toBeGreaterThan(0);
    }
    // One process group per capture; an arrow from each client request to its server side.
    const events = readTraceFile(merged).events;
    const names = events.filter((e) => e.name === 'process_name').map((e) => `${e.pid}:${String(e.args?.name)}`);
    expect(names).toEqual([expect.stringMatching(/^1:client /), expect.stringMatching(/^3:server .*main/), expect.stringMatching(/^4:server .*worker/)]);
    expect(events.filter((e) => e.cat === 'http' && e.ph === 's')).toHaveLength(PROMPTS);
    // Moved onto the client's clock, the slices on each track still nest exactly, in the floating point viewers compute ends in.
    const tracks = new Map<string, { ts: number; end: number }[]>();
    for (const e of events.filter((x) => x.ph === 'X')) {
      const list = tracks.get(`${e.pid}/${e.tid}`) ?? [];
      list.push({ ts: e.ts, end: e.ts + (e.dur ?? 0) });
      tracks.set(`${e.pid}/${e.tid}`, list);
    }
    for (const list of tracks.values()) {
      const open: number[] = [];
      for (const sl of list.sort((a, b) => a.ts - b.ts || b.end - a.end)) {
        while (open.length && open[open.length - 1] <= sl.ts) open.pop();
        if (open.length) expect(sl.end).toBeLessThanOrEqual(open[open.length - 1]);
        open.push(sl.end);
      }
    }

    const summary = await runCli(['trace', 'summary', merged, '--json']);
    const json = JSON.parse(summary.stdout) as {
      requests: number;
      serverOnly: number;
      endToEnd: { joined: number; slowest: { networkMs: number; serverStages: Record<string, number> }[] };
    };
    expect(json.endToEnd.joined).toBe(PROMPTS);
    // The headline figures are the client's; the server's warm-up is counted apart.
    expect([json.requests, json.serverOnly]).toEqual([PROMPTS, 1]);
    expect(json.endToEnd.slowest[0].serverStages.tokenize).toBeGreaterThan(0);
    const text = await runCli(['trace', 'summary', merged]);
    expect(text.stdout).toMatch(/Where the client's time went \(6 requests joined/);
    expect(text.stdout).toMatch(/network\/HTTP/);
    for (const tool of [
      ['show', merged, '--slowest', '1'],
      ['view', merged, '-o', join(dir, 'm.html')],
      ['convert', merged, '--to', 'perfetto', '-o', join(dir, 'm.pf.json')],
      ['convert', merged, '--to', 'otlp-json', '-o', join(dir, 'm.otlp.json')],
    ]) {
      const r = await runCli(['trace', ...tool]);
      expect(r.code, r.stderr).toBe(0);
    }
    // OTLP: the client's root is a CLIENT span, the server's root a SERVER span under it, at the times they ran.
    const otlp = JSON.parse(readFileSync(join(dir, 'm.otlp.json'), 'utf8')) as {
      resourceSpans: { scopeSpans: { spans: { kind: number; spanId: string; parentSpanId?: string; startTimeUnixNano: string }[] }[] }[];
    };
    const spans = otlp.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((x) => x.spans));
    const clients = spans.filter((x) => x.kind === 3);
    expect(clients).toHaveLength(PROMPTS);
    for (const c of clients) expect(spans.some((x) => x.kind === 2 && x.parentSpanId === c.spanId)).toBe(true);
    const started = Number(BigInt(clients[0].startTimeUnixNano) / 1_000_000n);
    expect(Math.abs(started - readTraceFile(clientFile).header!.startedAt)).toBeLessThan(60_000);
  }, 60_000);

  it("sends the client's spans over OTLP: a CLIENT root with its stages, whose trace a server continues", async () => {
    const receiver = await OtlpReceiver.start();
    const server = await startServer({}, { level: 1 });
    try {
      const r = await runCli([
        'bench',
        '--url',
        server.url,
        '--num-prompts',
        '3',
        '--random-output-len',
        '4',
        '--warmup',
        '0',
        '--trace-level',
        '2',
        '--otlp-traces-endpoint',
        receiver.url,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const roots = receiver.spans.filter((x) => x.kind === 3);
      expect(roots).toHaveLength(3);
      for (const root of roots) {
        expect(receiver.spans.find((x) => x.parentSpanId === root.spanId)?.name).toBe('client');
        const stages = receiver.spans.filter((x) => x.traceId === root.traceId).map((x) => x.name);
        for (const stage of ['send', 'wait_response', 'wait_first_token', 'stream']) expect(stages).toContain(stage);
        // The server's own record of the request is in the same trace, a child of this span.
        const theirs = server.memory.requests.find((q) => q.traceId === root.traceId);
        expect(theirs?.parentSpanId).toBe(root.spanId);
      }
    } finally {
      await server.stop();
      await receiver.stop();
    }
  }, 30_000);

  it.each([
    ['on another machine', 'elsewhere', /^estimated from 6 shared requests, ±/],
    [
      'on this machine whose wall clock stepped',
      null,
      /^the wall clock of .* contradicts 6 shared requests \(did it step\?\); estimated from 6 shared requests, ±/,
    ],
  ])(
    'estimates the offset of a server %s from the requests both saw',
    async (_, host, clock) => {
      // The same server capture, its clock 5 s ahead.
      const lines = readFileSync(serverFile, 'utf8').split('\n');
      const header = JSON.parse(lines[1]);
      if (host) header.args.host = host;
      header.args.timeOrigin += 5000;
      lines[1] = JSON.stringify(header);
      const skewed = join(dir, `server-${host ?? 'stepped'}.json`);
      writeFileSync(skewed, lines.join('\n'));
      const merged = join(dir, `merged-${host ?? 'stepped'}.json`);
      const out = await runCli(['trace', 'merge', clientFile, skewed, '-o', merged, '--json']);
      expect(out.code, out.stderr).toBe(0);
      const result = JSON.parse(out.stdout) as { captures: { clock: string }[] };
      expect(result.captures[1].clock).toMatch(clock);
      for (const r of requests(merged).filter((q) => q.remote)) {
        const [server] = r.remote!;
        expect(server.start).toBeGreaterThanOrEqual(r.start - 1e-6);
        expect(server.end).toBeLessThanOrEqual(r.end + 1e-6);
      }
    },
    30_000,
  );
});
