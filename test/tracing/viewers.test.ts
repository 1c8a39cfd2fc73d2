import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { TraceFileWriter } from '../../src/lib/tracing/trace_file/writer.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import type { TraceEventLine } from '../../src/lib/tracing/trace_file/format.js';

const path = join(mkdtempSync(join(tmpdir(), 'sgl-viewers-')), 'trace.json');
const REQUESTS = 20;
let events: TraceEventLine[];

/** Slices on one pid/tid that start inside another and end after it, with ends computed as `end(e)`. */
function partialOverlaps(all: TraceEventLine[], end: (e: TraceEventLine) => number, start: (e: TraceEventLine) => number): string[] {
  const tracks = new Map<string, TraceEventLine[]>();
  for (const e of all) {
    if (e.ph !== 'X') continue;
    const key = `${e.pid}/${e.tid}`;
    if (!tracks.has(key)) tracks.set(key, []);
    tracks.get(key)!.push(e);
  }
  const bad: string[] = [];
  for (const [key, slices] of tracks) {
    slices.sort((a, b) => start(a) - start(b) || end(b) - end(a));
    const open: TraceEventLine[] = [];
    for (const s of slices) {
      while (open.length && end(open[open.length - 1]) <= start(s)) open.pop();
      const parent = open[open.length - 1];
      if (parent && end(s) > end(parent)) bad.push(`${key}: ${s.name} at ${s.ts} ends after ${parent.name} at ${parent.ts}`);
      else open.push(s);
    }
  }
  return bad;
}

describe("a concurrent level-3 capture in other people's viewers", () => {
  beforeAll(async () => {
    const tracing = new Tracing({ level: 3, modules: ['request', 'scheduler', 'engine'], exporters: [new TraceFileWriter(path)] });
    const engine = await Engine.create({ tracing, maxPrefillTokens: 16 });
    await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        for await (const c of await engine.generate({
          rid: `r${i}`,
          prompt: `Request number ${i} says`,
          sampling: { maxTokens: 6 + (i % 5), temperature: 0, ignoreEos: true },
        }))
          void c;
      }),
    );
    await engine.shutdown();
    await tracing.shutdown();
    events = JSON.parse(readFileSync(path, 'utf8')) as TraceEventLine[];
  });

  it('nests every slice in floating point (ts + dur, as DevTools computes ends) and in integer nanoseconds (as Perfetto does)', () => {
    expect(events.filter((e) => e.ph === 'X').length).toBeGreaterThan(REQUESTS * 20);
    expect(
      partialOverlaps(
        events,
        (e) => e.ts + e.dur!,
        (e) => e.ts,
      ),
    ).toEqual([]);
    expect(
      partialOverlaps(
        events,
        (e) => Math.round(e.ts * 1000) + Math.round(e.dur! * 1000),
        (e) => Math.round(e.ts * 1000),
      ),
    ).toEqual([]);
  });

  it("has every slice placed in its thread tree by Chrome DevTools' trace engine", async () => {
    const { polyfillDOMRect } = await import('@paulirish/trace_engine/analyze-trace.mjs');
    polyfillDOMRect();
    const Trace = await import('@paulirish/trace_engine');
    const model = Trace.TraceModel.Model.createWithAllHandlers();
    await model.parse(events as never);
    const placed = model.parsedTrace()!.data.Renderer.entryToNode;
    const missing = events.filter((e) => e.ph === 'X' && !placed.has(e as never)).map((e) => `${e.pid}/${e.tid} ${e.name} ${e.ts}+${e.dur}`);
    expect(missing).toEqual([]);
  });
});
