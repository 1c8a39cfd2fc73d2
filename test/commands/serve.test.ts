import { spawn } from 'node:child_process';
import { OtlpReceiver } from '../helpers/otlp_receiver.js';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { runCli } from '../helpers/cli.js';

const BIN = resolve(import.meta.dirname, '../../bin/run.js');

interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `sgl serve` as a user would, on a free port, and waits until it listens. */
async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) done(m[1]);
    });
    void exited.then((code) => fail(new Error(`sgl serve exited with ${code}: ${err}`)));
  });
  return { child, url, stdout: () => out, stderr: () => err, exited };
}

/** A streamed completion; resolves with its text and finish reason once the stream ends. */
function streamed(url: string, onFirst: () => void): Promise<{ text: string; finish: string | null }> {
  return (async () => {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Tell me a story', max_tokens: 120, ignore_eos: true, stream: true }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let text = '';
    let finish: string | null = null;
    let first = true;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, i).replace(/^data: /, '');
        buf = buf.slice(i + 2);
        if (event === '[DONE]') continue;
        const chunk = JSON.parse(event);
        text += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason ?? finish;
        if (first) {
          first = false;
          onFirst();
        }
      }
    }
    return { text, finish };
  })();
}

describe('sgl serve as a process', () => {
  it('prints where it listens, the model and the tracing set-up', async () => {
    const s = await serve(['--trace-level', '2', '--enable-metrics']);
    s.child.kill('SIGINT');
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toMatch(/model\s+sgl-llama-tiny .* on cpu/);
    expect(s.stdout()).toMatch(/tracing\s+level 2, modules request/);
    expect(s.stdout()).toMatch(/export\s+none/);
    expect(s.stdout()).toMatch(/metrics\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
  });

  it('with an OTLP endpoint and no --trace-level, turns tracing on at level 1, says so, and the collector gets the spans', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      const s = await serve(['--otlp-traces-endpoint', receiver.url]);
      await streamed(s.url, () => undefined);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(s.stdout()).toMatch(/tracing\s+level 1 \(turned on for the OTLP endpoint; --trace-level to choose\)/);
      expect(s.stdout()).toMatch(/export\s+spans over OTLP grpc to http:\/\/127\.0\.0\.1:\d+/);
      expect(receiver.spans.map((x) => x.name)).toEqual(expect.arrayContaining(['tokenize', 'queue_wait', 'prefill_forward', 'decode_loop']));
    } finally {
      await receiver.stop();
    }
  });

  it('on SIGTERM drains running requests, flushes the trace file and exits 0', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sgl-serve-')), 'trace.json');
    const s = await serve(['--trace-level', '2', '--trace-file', file]);
    let started = 0;
    const all = Array.from({ length: 4 }, () => streamed(s.url, () => started++));
    while (started < 4) await new Promise((r) => setTimeout(r, 5));
    s.child.kill('SIGTERM');
    const results = await Promise.all(all);
    expect(await s.exited).toBe(0);
    for (const r of results) expect(r.finish).toBe('length');
    expect(s.stdout()).toMatch(/SIGTERM: draining 4 running request/);
    const trace = readTraceFile(file);
    expect(trace.truncated).toBe(false);
    expect(trace.workloads).toHaveLength(4);
    for (const w of trace.workloads) expect(w.outputTokens).toBe(120);
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
  });

  it('keeps serving when the OTLP collector is unreachable, and says so once', async () => {
    const s = await serve(['--trace-level', '2', '--otlp-traces-endpoint', 'http://127.0.0.1:9', '--enable-metrics']);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'Hi', max_tokens: 3 }),
      });
      expect(res.status).toBe(200);
    }
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.stderr().match(/spans to the OTLP collector at http:\/\/127\.0\.0\.1:9 \(grpc\) are being dropped/g)).toHaveLength(1);
  });

  it('with a collector that never answers, SIGTERM exits within --drain-timeout + 2 s and prints the drop count', async () => {
    // Accepts connections and never says a word.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as AddressInfo).port;
    const file = join(mkdtempSync(join(tmpdir(), 'sgl-serve-')), 'trace.json');
    const s = await serve([
      '--trace-level',
      '1',
      '--otlp-traces-endpoint',
      `http://127.0.0.1:${port}`,
      '--trace-file',
      file,
      '--drain-timeout',
      '2',
      '--max-queued-requests',
      '4096',
    ]);
    try {
      const body = JSON.stringify({ prompt: 'Hi', max_tokens: 1 });
      // 400 requests of 7 spans each: more than two batches (1,024 spans) stuck with the silent collector, and more queued behind them.
      const REQUESTS = 400;
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < REQUESTS) {
            next++;
            const res = await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
            expect(res.status).toBe(200);
            await res.arrayBuffer();
          }
        }),
      );
      const signalled = performance.now();
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(performance.now() - signalled).toBeLessThan(2000 + 2000);
      const dropped = /(\d+) spans were dropped: the OTLP collector at http:\/\/127\.0\.0\.1:\d+ \(grpc\) did not take them in time/.exec(
        s.stderr().replace(/\s*\n ›\s+/g, ' '),
      );
      expect(dropped, s.stderr()).not.toBeNull();
      expect(Number(dropped![1])).toBeGreaterThanOrEqual(5 * REQUESTS);
      // The trace file was closed whatever the collector did, and is for the owner's eyes only.
      const trace = readTraceFile(file);
      expect(trace.truncated).toBe(false);
      expect(trace.workloads).toHaveLength(REQUESTS);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      s.child.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 120_000);

  it('refuses an empty --api-key at start', async () => {
    const r = await runCli(['serve', '--port', '0', '--api-key', '']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--api-key is empty/);
  });
});
