import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { runCli } from '../helpers/cli.js';
import { capture } from '../helpers/capture.js';
import { writeSyntheticCapture } from '../../bench/synthetic_capture.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-trace-view-'));
/** Debian's Chromium, when installed (`apt-get install chromium`; .ci/run does); the browser tests need it. */
const CHROMIUM = '/usr/bin/chromium';

/** What the page's script exposes of its state, for tests. */
interface ViewState {
  range: [number, number];
  ticks: string[];
  bars: number;
  rows: number;
}

async function withPage(html: string, use: (page: Page, errors: string[]) => Promise<void>): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    page.on('pageerror', (e) => void errors.push(e.message));
    await page.goto(`file://${html}`);
    await page.waitForFunction(() => (globalThis as unknown as { sglView?: ViewState }).sglView !== undefined);
    await use(page, errors);
  } finally {
    await browser.close();
  }
}

const state = (page: Page): Promise<ViewState> =>
  page.evaluate(() => {
    const v = (globalThis as unknown as { sglView: ViewState }).sglView;
    return { range: v.range, ticks: [...v.ticks], bars: v.bars, rows: v.rows };
  });

describe('sgl trace view', () => {
  const small = join(dir, 'a.json');
  writeFileSync(small, capture());

  it('writes a self-contained page: the requests as compact data, nothing fetched', async () => {
    const out = join(dir, 'a.html');
    const r = await runCli(['trace', 'view', small, '--output', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ requests: 2 });
    const html = readFileSync(out, 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="data">([^<]*)<\/script>/.exec(html)![1]) as {
      rows: [string, number, number, number[], number[]][];
    };
    // Both requests, in order of arrival, times in whole µs from the first: a at 1 ms for 10 ms, b at 5 ms for 30 ms.
    expect(data.rows.map((row) => row.slice(0, 3))).toEqual([
      ['a', 0, 10000],
      ['b', 4000, 30000],
    ]);
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it.skipIf(!existsSync(CHROMIUM))('renders in headless Chromium; the wheel zooms the time axis only, hover names the stage', async () => {
    const out = join(dir, 'a.html');
    await runCli(['trace', 'view', small, '--output', out]);
    await withPage(out, async (page, errors) => {
      const before = await state(page);
      expect(before.rows).toBe(2);
      expect(before.bars).toBeGreaterThan(0);
      const box = (await page.locator('#timeline').boundingBox())!;
      await page.mouse.move(box.x + 400, box.y + 60);
      await page.mouse.wheel(0, -300);
      await expect.poll(async () => (await state(page)).range[1] - (await state(page)).range[0]).toBeLessThan(before.range[1] - before.range[0]);
      // Keys zoom back out and reset.
      await page.locator('#timeline').focus();
      await page.keyboard.press('0');
      await expect.poll(async () => (await state(page)).range).toEqual(before.range);
      // The first request's row, worker lane, early on: its decode_loop (tokenize is 1 ms, decode 9 ms of 10).
      // Focusing may have scrolled the page, so the canvas is measured again.
      const canvas = (await page.locator('#canvas').boundingBox())!;
      await page.mouse.move(canvas.x + 190 + (canvas.width - 190) * (5 / 34), canvas.y + 30 + 2 + 10 + 4);
      await expect.poll(() => page.locator('#tip').textContent()).toMatch(/decode_loop \(worker\)\n9\.0+ ms at \+1\.0+ ms\na/);
      expect(errors).toEqual([]);
    });
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'opens 10,000 requests; zooming keeps the labels in place and relabels the time axis',
    async () => {
      const big = join(dir, 'big.json');
      await writeSyntheticCapture(big, { requests: 10_000, tokens: 4, concurrency: 16 });
      const out = join(dir, 'big.html');
      const r = await runCli(['trace', 'view', big, '--output', out, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const { bytes } = JSON.parse(r.stdout) as { bytes: number };
      // Compact data: well under a kilobyte a request (the SVG page took about 2 KB).
      expect(bytes / 10_000).toBeLessThan(500);
      await withPage(out, async (page, errors) => {
        const labels = { x: 0, y: 40, width: 180, height: 400 };
        const box = (await page.locator('#timeline').boundingBox())!;
        const clip = { ...labels, x: box.x + 1, y: box.y + labels.y };
        const wide = await state(page);
        expect(wide.rows).toBe(10_000);
        expect(wide.ticks.length).toBeGreaterThan(1);
        const labelsBefore = await page.screenshot({ clip });
        await page.screenshot({ path: join(dir, 'zoomed-out.png') });
        await page.mouse.move(box.x + 195, box.y + 200);
        for (let i = 0; i < 6; i++) await page.mouse.wheel(0, -400);
        await expect.poll(async () => (await state(page)).ticks).not.toEqual(wide.ticks);
        const near = await state(page);
        expect(near.range[1] - near.range[0]).toBeLessThan((wide.range[1] - wide.range[0]) / 10);
        expect(near.bars).toBeGreaterThan(0);
        expect(near.ticks.every((t) => /^\d+(\.\d+)? (s|ms|µs)$/.test(t))).toBe(true);
        await page.screenshot({ path: join(dir, 'zoomed-in.png') });
        // The label column is the same picture at both zoom levels: zoom touches time, not rows or text.
        expect((await page.screenshot({ clip })).equals(labelsBefore)).toBe(true);
        // Scrolling reaches the last request.
        await page.locator('#timeline').evaluate((el) => el.scrollTo(0, el.scrollHeight));
        await expect.poll(() => page.locator('#timeline').evaluate((el) => el.scrollTop)).toBeGreaterThan(200_000);
        expect(errors).toEqual([]);
      });
    },
    120_000,
  );
});
