import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BenchDriver } from '../../src/lib/target/driver.js';
import { connectTargets } from '../../src/lib/target/fleet.js';
import { HttpTarget } from '../../src/lib/target/http_target.js';
import type { FinishedRequest } from '../../src/lib/tracing/finished_request.js';
import { Capture } from '../../src/lib/tracing/trace_file/capture.js';
import { runCli } from '../helpers/cli.js';
import { startOpenAiStub } from '../helpers/openai_stub.js';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'sgl-fleet-'));
const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p));

const specs = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, prompt: 'Hello', inputTokens: 2, outputTokens: 2 }));

describe('several --url', () => {
  it('spreads requests over the servers; one that is down at the start is left out, one that goes down is passed over', async () => {
    const a = await startOpenAiStub(() => ({ tokens: 2 }));
    const b = await startOpenAiStub(() => ({ tokens: 2 }));
    try {
      const connected = await connectTargets([a.url, b.url, 'http://127.0.0.1:9'], (url) => HttpTarget.connect(url, 'completions'), 'round-robin');
      expect(connected.servers.map((s) => s.url)).toEqual([a.url, b.url]);
      expect(connected.warnings).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:9 left out: Cannot reach/)]);
      const driver = new BenchDriver({ requestRate: Infinity, burstiness: 1, maxConcurrency: 1, seed: 1, warmup: 0, replayArrivals: false });
      const first = await driver.run(connected.target, { name: 'w', requests: specs(6) });
      expect(first.outcomes.map((x) => x.target)).toEqual([a.url, b.url, a.url, b.url, a.url, b.url]);
      // The command's report: one row per server, the one left out named.
      const cli = await runCli([
        'bench',
        '--url',
        a.url,
        '--url',
        b.url,
        '--url',
        'http://127.0.0.1:9',
        '--num-prompts',
        '6',
        '--max-concurrency',
        '1',
        '--warmup',
        '0',
        '--random-output-len',
        '2',
        '--json',
      ]);
      expect(cli.code, cli.stderr).toBe(0);
      const report = JSON.parse(cli.stdout) as { targets: { url: string; completed: number; failed: number }[]; warnings: string[] };
      expect(report.warnings).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:9 left out/)]);
      expect(report.targets.map((t) => [t.url, t.completed, t.failed])).toEqual([
        [a.url, 3, 0],
        [b.url, 3, 0],
      ]);
      // B stops listening: its requests are refused before they reach it, and go to A.
      await b.stop();
      const second = await driver.run(connected.target, { name: 'w', requests: specs(6) });
      expect(second.outcomes.every((x) => x.error === null && x.target === a.url)).toBe(true);
      connected.target.close();
    } finally {
      await a.stop();
    }
  });
});

/** A free port on 127.0.0.1 (for HAProxy, which cannot be asked for any port and tell which). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** `sgl serve` in a process of its own, tracing to a file; resolves with its URL once it listens. */
function serve(name: string): Promise<{ url: string; proc: ChildProcess; trace: string }> {
  const trace = join(dir, `${name}.json`);
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/run.js'),
      'serve',
      '--port',
      '0',
      '--trace-level',
      '2',
      '--trace-file',
      trace,
      '--shutdown-delay',
      '1',
      '--drain-timeout',
      '20',
      '--enable-metrics',
    ],
    { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], proc, trace });
    });
    proc.on('exit', (code) => reject(new Error(`sgl serve ${name} exited (${code}) before listening: ${out}`)));
  });
}

const exited = (proc: ChildProcess): Promise<void> => (proc.exitCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', () => r())));

describe.skipIf(!HAPROXY)('two sgl serve replicas behind HAProxy', () => {
  const procs: ChildProcess[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  });

  it('bench through the balancer, one replica drained mid-run: no request lost, spread over both, every client span holds its server spans', async () => {
    const [a, b] = await Promise.all([serve('replica-a'), serve('replica-b')]);
    procs.push(a.proc, b.proc);
    const port = await freePort();
    const hostPort = (url: string): string => url.replace('http://', '');
    const config = join(dir, 'haproxy.cfg');
    // Readiness is checked every 100 ms; a request that cannot reach a replica (refused, or closed unanswered) is retried on the other.
    writeFileSync(
      config,
      [
        'global',
        '  maxconn 256',
        'defaults',
        '  mode http',
        '  timeout connect 2s',
        '  timeout client 60s',
        '  timeout server 60s',
        '  retries 3',
        '  option redispatch 1',
        '  option http-no-delay',
        '  retry-on conn-failure empty-response 503',
        `frontend sgl`,
        `  bind 127.0.0.1:${port}`,
        '  default_backend replicas',
        'backend replicas',
        '  balance roundrobin',
        '  option httpchk GET /ready',
        '  http-check expect status 200',
        `  server a ${hostPort(a.url)} check inter 100ms fall 1 rise 1`,
        `  server b ${hostPort(b.url)} check inter 100ms fall 1 rise 1`,
      ].join('\n') + '\n',
    );
    const lb = spawn(HAPROXY!, ['-f', config, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(lb);
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${url}/ready`).catch(() => null))?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const client = join(dir, 'client.json');
    const bench = runCli([
      'bench',
      '--url',
      url,
      '--num-prompts',
      '24',
      '--request-rate',
      '6',
      '--random-output-len',
      '24',
      '--warmup',
      '0',
      '--trace-level',
      '2',
      '--trace-file',
      client,
      '--json',
    ]);
    // Replica b is told to stop while it runs requests: /ready fails at once, the listener closes a second later, and what runs finishes.
    const running = async (): Promise<number> =>
      Number(/^sglang:num_running_reqs\{[^}]*\} (\d+)/m.exec(await (await fetch(`${b.url}/metrics`)).text())?.[1] ?? 0);
    for (let i = 0; i < 400 && (await running()) < 1; i++) await new Promise((r) => setTimeout(r, 25));
    const stoppedAt = Date.now();
    b.proc.kill('SIGTERM');
    const result = await bench;
    expect(result.code, result.stderr).toBe(0);
    const metrics = JSON.parse(result.stdout) as { metrics: { completed: number; failed: number } };
    expect(metrics.metrics).toMatchObject({ completed: 24, failed: 0 });
    await exited(b.proc);
    a.proc.kill('SIGTERM');
    await exited(a.proc);
    lb.kill('SIGTERM');

    const merged = join(dir, 'merged.json');
    const out = await runCli(['trace', 'merge', client, a.trace, b.trace, '-o', merged, '--json']);
    expect(out.code, out.stderr).toBe(0);
    const joined = [...new Capture(merged, () => {}).requests()].filter((r) => r.client);
    expect(joined).toHaveLength(24);
    const onB = new Set([...new Capture(b.trace, () => {}).requests()].map((r) => r.traceId));
    let drainedOnB = 0;
    for (const r of joined) {
      expect(r.remote?.length, `request ${r.rid} has its server side`).toBe(1);
      const server: FinishedRequest = r.remote![0];
      expect(server.start).toBeGreaterThanOrEqual(r.start);
      expect(server.end).toBeLessThanOrEqual(r.end);
      if (onB.has(r.traceId) && server.end + server.epochOrigin! > stoppedAt) drainedOnB++;
    }
    // Some of b's requests were running when it was told to stop, and finished.
    expect(drainedOnB).toBeGreaterThan(0);
    // Both replicas served part of the run.
    const mergeResult = JSON.parse(out.stdout) as { captures: { file: string; joined: number }[] };
    const byFile = Object.fromEntries(mergeResult.captures.map((c) => [c.file, c.joined]));
    expect(byFile[a.trace]).toBeGreaterThan(0);
    expect(byFile[b.trace]).toBeGreaterThan(0);
    expect(byFile[a.trace] + byFile[b.trace]).toBe(24);
    const summary = await runCli(['trace', 'summary', merged]);
    expect(summary.stdout).toMatch(/Where the client's time went \(24 requests joined/);
  }, 90_000);
});
