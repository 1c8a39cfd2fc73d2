import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/raw_http.js';
import type { TestServer } from '../helpers/server.js';
import { post, startServer } from '../helpers/server.js';

/** Debian's Chromium, when installed (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';

/** A page on another origin that tries what any web page can: a no-preflight text/plain POST, a form POST, and an <img> GET that would change state. */
function hostilePage(target: string): string {
  return `<!doctype html><title>page</title><script>
    const body = JSON.stringify({ prompt: 'Hi', max_tokens: 3 });
    const image = new Promise((done) => { const img = new Image(); img.onload = img.onerror = done; img.src = '${target}/set_trace_level?level=3'; });
    Promise.allSettled([
      fetch('${target}/v1/completions', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body }),
      fetch('${target}/generate', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body }),
      fetch('${target}/v1/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }).then((r) => r.json()).then((j) => (window.corsReply = j)),
      image,
    ]).then(() => (document.title = 'done'));
  </script>`;
}

async function servePage(html: () => string): Promise<{ origin: string; close: () => void }> {
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(html()));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { origin: `http://localhost:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('browser-origin safety', () => {
  let s: TestServer;
  afterEach(async () => {
    await s.stop();
  });

  it('a Host that does not name loopback is refused (DNS rebinding); loopback names pass', async () => {
    s = await startServer();
    const port = Number(new URL(s.url).port);
    const evil = await rawRequest(port, `GET /v1/models HTTP/1.1\r\nHost: rebind.example:${port}\r\n\r\n`);
    expect(evil.status).toBe(403);
    expect(evil.text).toMatch(/"code":"forbidden_origin"/);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      expect((await rawRequest(port, `GET /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).status, host).toBe(200);
    }
  });

  it('bodies must be JSON: text/plain and forms get 415', async () => {
    s = await startServer();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }), { 'content-type': type });
      expect(r.status, type).toBe(415);
      expect((r.json.error as { code: string }).code).toBe('unsupported_media_type');
    }
    expect(
      (await post(`${s.url}/v1/completions`, JSON.stringify({ prompt: 'Hi', max_tokens: 2 }), { 'content-type': 'application/json; charset=utf-8' })).status,
    ).toBe(200);
  });

  it.skipIf(!existsSync(CHROMIUM))('a page on another origin reaches the engine in no way, unless --allowed-origins names it', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    let target = '';
    const page = await servePage(() => hostilePage(target));
    const visit = async (): Promise<unknown> => {
      const tab = await browser.newPage();
      await tab.goto(page.origin);
      // Strings, run in the page: the test itself compiles without the DOM's types.
      await tab.waitForFunction('document.title === "done"');
      const reply = await tab.evaluate('window.corsReply');
      await tab.close();
      return reply;
    };
    try {
      s = await startServer();
      target = s.url;
      await visit();
      expect(s.tracing.metrics!.requests).toBe(0);
      expect(s.tracing.level).toBe(0);
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      // The same page, its origin allowed: the JSON request is served, with CORS headers the browser accepts.
      await s.stop();
      s = await startServer({ allowedOrigins: [page.origin] });
      target = s.url;
      const reply = (await visit()) as { usage?: { completion_tokens: number } } | undefined;
      expect(reply?.usage?.completion_tokens).toBe(3);
      expect(s.tracing.metrics!.requests).toBe(1);
    } finally {
      page.close();
      await browser.close();
    }
  });
});
