import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costRatios } from '../../src/lib/replay/cost_ratios.js';
import { engineSteps } from '../../src/lib/replay/engine_steps.js';
import { paced } from '../../src/lib/replay/run_replay.js';
import { scaleCosts } from '../../src/lib/replay/simulator.js';
import type { TimingModel } from '../../src/lib/replay/simulator.js';
import { TraceReader } from '../../src/lib/tracing/trace_file/reader.js';
import { azureWorkload, burstGptWorkload } from '../../src/lib/workload/csv_traces.js';
import { mooncakeWorkload } from '../../src/lib/workload/dataset_files.js';
import { detectFormat } from '../../src/lib/workload/formats.js';
import { fitToContext } from '../../src/lib/workload/fit_context.js';
import { blockPrompt, impliedHitRate } from '../../src/lib/workload/hash_blocks.js';
import { writeSyntheticCapture } from '../../bench/synthetic_capture.js';
import { runCli } from '../helpers/cli.js';
import { startOpenAiStub } from '../helpers/openai_stub.js';

const dir = mkdtempSync(join(tmpdir(), 'sgl-public-'));
const ROWS = 40;
/** Deterministic lengths and gaps: row 3 has zero output tokens, every 7th row is longer than the tiny model's context. */
const row = (i: number): { gapMs: number; input: number; output: number } => ({
  gapMs: 137 * ((i * 7) % 11) + 1,
  input: i % 7 === 0 ? 5000 + i * 100 : 20 + i * 3,
  output: i === 3 ? 0 : 5 + (i % 9),
});

function times(first: number): number[] {
  const out: number[] = [];
  let t = first;
  for (let i = 0; i < ROWS; i++) out.push((t += row(i).gapMs));
  return out;
}

/** The formats as their public releases write them. */
const FILES = {
  // Mooncake (FAST'25): conversation, synthetic and toolagent traces share one schema; timestamps in ms.
  'mooncake-conversation.jsonl': () =>
    times(27_000)
      .map((t, i) => JSON.stringify({ timestamp: t, input_length: row(i).input, output_length: row(i).output, hash_ids: [i, i + 1] }))
      .join('\n') + '\n',
  'mooncake-toolagent.jsonl': () =>
    times(0)
      .map((t, i) => JSON.stringify({ timestamp: t, input_length: row(i).input, output_length: row(i).output, hash_ids: [7] }))
      .join('\n') + '\n',
  // Azure LLM inference traces 2023 (code, conv): datetimes with 7-digit fractions.
  'azure-code.csv': () =>
    'TIMESTAMP,ContextTokens,GeneratedTokens\n' +
    times(0)
      .map((t, i) => {
        const d = new Date(Date.UTC(2023, 10, 16, 18, 15, 0) + Math.floor(t));
        return `${d.toISOString().slice(0, 19).replace('T', ' ')}.${String(Math.round((t % 1000) * 1e4)).padStart(7, '0')},${row(i).input},${row(i).output}`;
      })
      .join('\n') +
    '\n',
  // BurstGPT: seconds since the trace's start.
  'burstgpt.csv': () =>
    'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n' +
    times(5000)
      .map((t, i) => `${(t / 1000).toFixed(3)},ChatGPT,${row(i).input},${row(i).output},${row(i).input + row(i).output},Conversation log`)
      .join('\n') +
    '\n',
};

const path = (name: string): string => join(dir, name);
let profile: string;

describe('replaying public traces', () => {
  beforeAll(async () => {
    for (const [name, text] of Object.entries(FILES)) writeFileSync(path(name), text());
    profile = path('profile.json');
    await writeSyntheticCapture(profile, { requests: 60, tokens: 8, concurrency: 4 });
  });

  it.each([
    ['mooncake-conversation.jsonl', 'mooncake', mooncakeWorkload],
    ['mooncake-toolagent.jsonl', 'mooncake', mooncakeWorkload],
    ['azure-code.csv', 'azure', azureWorkload],
    ['burstgpt.csv', 'burstgpt', burstGptWorkload],
  ] as const)("%s: read in its own units and order; the first 30 arrivals keep the file's offsets, divided by --speed", (name, format, read) => {
    expect(detectFormat(path(name))).toBe(format);
    const w = paced(read(path(name), Infinity), path(name), 2);
    expect(w.requests).toHaveLength(ROWS);
    const t = times(0);
    const expected = t.slice(0, 30).map((x) => (x - t[0]) / 2);
    w.requests.slice(0, 30).forEach((r, i) => expect(r.arrivalMs).toBeCloseTo(expected[i], 3));
    expect(w.requests.slice(0, 5).map((r) => [r.inputTokens, r.outputTokens])).toEqual([0, 1, 2, 3, 4].map((i) => [row(i).input, row(i).output]));
  });

  it("--time-window counts in the trace's own time, from its first request", () => {
    const t = times(0);
    const w = mooncakeWorkload(path('mooncake-conversation.jsonl'), { count: Infinity, window: [1000, 3000] });
    expect(w.requests.map((r) => r.arrivalMs)).toEqual(t.map((x) => x - t[0]).filter((x) => x >= 1000 && x < 3000));
  });

  it('scale keeps every request within the context with one stated factor; zero-token rows are skipped and counted', () => {
    const w = mooncakeWorkload(path('mooncake-conversation.jsonl'), Infinity);
    const { requests, fit } = fitToContext(w.requests, 1024, 'scale', 'test');
    const longest = Math.max(...w.requests.filter((r) => r.outputTokens > 0).map((r) => r.inputTokens + r.outputTokens));
    expect(fit).toMatchObject({ empty: 1, factor: 1024 / longest, changed: ROWS - 1 });
    expect(requests).toHaveLength(ROWS - 1);
    for (const r of requests) expect(r.inputTokens + r.outputTokens).toBeLessThanOrEqual(1024);
    // One factor for all: the shape holds (the longest stays the longest, ratios within rounding).
    expect(requests.find((r) => r.id === 'mooncake-36')!.inputTokens).toBe(Math.floor(row(35).input * fit.factor));
    const clip = fitToContext(w.requests, 1024, 'clip', 'test');
    expect(clip.fit.changed).toBe(6);
    expect(clip.requests.filter((r) => r.inputTokens === 20 + 3).length).toBe(1);
    expect(fitToContext(w.requests, 1024, 'skip', 'test').requests).toHaveLength(ROWS - 1 - 6);
  });

  it("--simulate --profile simulates a public trace from a capture's models, and the report says how it was fitted", async () => {
    const r = await runCli(['replay', path('burstgpt.csv'), '--simulate', '--profile', profile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /Fitted to the model: 1 row with zero input or output tokens was skipped .*every input and output length was scaled by 0\.\d+ \(--fit-context scale: the longest request holds \d+ tokens and the model takes 1024/,
    );
    expect(r.stdout).toMatch(/Simulated 39 requests/);
    expect(r.stdout).toMatch(/Fitted on 60 requests of .*profile\.json/);
    expect(r.stdout).toMatch(/Successful requests\s*│\s*39/);
    expect(r.stdout).toMatch(/TTFT\s*│\s*\d/);
    expect(r.stdout).not.toMatch(/rows one at a time/);
    // A profile of the gqa layout is fitted and simulated row by row, as that engine prefills.
    const gqaProfile = path('gqa-profile.json');
    await writeSyntheticCapture(gqaProfile, { requests: 60, tokens: 8, concurrency: 4, kvLayout: 'gqa' });
    const gqa = await runCli(['replay', path('burstgpt.csv'), '--simulate', '--profile', gqaProfile]);
    expect(gqa.code, gqa.stderr).toBe(0);
    expect(gqa.stdout).toMatch(/its rows one at a time \(the gqa layout/);
    const refused = await runCli(['replay', path('burstgpt.csv'), '--simulate']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--simulate of a burstgpt trace needs --profile CAPTURE/);
  });

  it('--trace-level 3 makes an executed public trace a profile; --cost-scale scales the fitted costs; costRatios reads them back', async () => {
    // Executed in-process on the tiny model, traced with the engine's steps (a public trace alone would be level 2).
    // --fit-context skip: scaled into the tiny model's context, most outputs would be one token.
    const executed = (limit: number, output: string) =>
      runCli([
        'replay',
        path('mooncake-toolagent.jsonl'),
        '--limit',
        String(limit),
        '--speed',
        '40',
        '--fit-context',
        'skip',
        '--trace-level',
        '3',
        '--trace-module',
        'request,scheduler,engine',
        '--output',
        output,
      ]);
    // Four short requests cannot give the step fit its 50 steps of an unchanged batch; the warning says so, not that steps are missing.
    const few = path('executed-few.json');
    expect((await executed(6, few)).code).toBe(0);
    const rough = await runCli(['replay', path('mooncake-toolagent.jsonl'), '--simulate', '--profile', few]);
    expect(rough.code, rough.stderr).toBe(0);
    expect(rough.stderr.replace(/\s*›\s*/g, ' ')).toMatch(/has \d+ decode steps that follow one another with the same batch .* needs 50/);
    const own = path('executed-l3.json');
    const r = await executed(40, own);
    expect(r.code, r.stderr).toBe(0);
    expect(engineSteps(new TraceReader(own).events()).decode.length).toBeGreaterThan(100);
    const sim = await runCli(['replay', path('mooncake-toolagent.jsonl'), '--simulate', '--profile', own, '--json']);
    expect(sim.code, sim.stderr).toBe(0);
    const model = (JSON.parse(sim.stdout) as { model: TimingModel }).model;
    expect(model.basis).toBe('steps');
    // Scaled costs: the report says so, and a capture measured against halved prefill and quartered decode costs runs 2× and 4× slower.
    const scaled = await runCli(['replay', path('mooncake-toolagent.jsonl'), '--simulate', '--profile', own, '--cost-scale', 'prefill=0.5,decode=0.25']);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toMatch(/Those costs include --cost-scale: prefill × 0\.5, decode steps and repacks × 0\.25/);
    const base = costRatios(model, own);
    expect(base.prefillRuns).toBeGreaterThan(0);
    expect(base.decodePeriods).toBeGreaterThan(0);
    const against = costRatios(scaleCosts(model, 0.5, 0.25), own);
    expect(against.prefill / base.prefill).toBeCloseTo(2, 9);
    expect(against.decode / base.decode).toBeCloseTo(4, 9);
    // Steps larger than the model saw are left out: a model that saw none leaves the ratio at 1.
    expect(costRatios({ ...model, covered: { rows: 0, rowTokens: 0 } }, own)).toMatchObject({ decode: 1, decodePeriods: 0 });
    for (const bad of [
      ['--cost-scale', '0'],
      ['--cost-scale', 'prefill=2,warp=3'],
    ]) {
      const refused = await runCli(['replay', path('burstgpt.csv'), '--simulate', '--profile', own, ...bad]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--cost-scale takes a positive factor such as 0\.8, or prefill=F,decode=G/);
    }
    const traced = await runCli(['replay', path('burstgpt.csv'), '--simulate', '--profile', own, '--trace-level', '3']);
    expect(traced.code).toBe(2);
  });

  describe('against a server that refuses some requests', () => {
    let stub: Awaited<ReturnType<typeof startOpenAiStub>>;
    afterAll(async () => {
      await stub?.stop();
    });

    it('prints the figures and the reasons, and exits 1 past --max-failures', async () => {
      stub = await startOpenAiStub((n) => (n % 4 === 1 ? { status: 400, message: 'prompt is too long for this deployment' } : { tokens: 3 }));
      const r = await runCli(['replay', path('azure-code.csv'), '--url', stub.url, '--speed', '100', '--limit', '20']);
      expect(r.code).toBe(1);
      // Row 3 has no output tokens: 19 requests are sent, every fourth refused.
      expect(r.stdout).toMatch(/Successful requests\s*│\s*14/);
      expect(r.stdout).toMatch(/HTTP 400: prompt is too long for this deployment/);
      expect(r.stdout).toMatch(/Arrivals: requests were sent .* behind the trace's schedule at --speed 100/);
      expect(r.stderr).toMatch(/5 of 19 requests failed, more than --max-failures allows/);
      const tolerant = await runCli(['replay', path('azure-code.csv'), '--url', stub.url, '--speed', '100', '--limit', '20', '--max-failures', '50%']);
      expect(tolerant.code, tolerant.stderr).toBe(0);
    });
  });
});

describe('Mooncake hash_ids', () => {
  const special = new Set<number>();
  it('become the same tokens wherever a block id appears, scaled with the lengths', () => {
    const [a, b] = [
      { id: 'a', inputTokens: 1100, outputTokens: 5, hashIds: [1, 2, 3] },
      { id: 'b', inputTokens: 900, outputTokens: 5, hashIds: [1, 2, 9] },
    ];
    const pa = blockPrompt(a, 7, 32000, special);
    const pb = blockPrompt(b, 7, 32000, special);
    expect(pa).toHaveLength(1100);
    expect(pb).toHaveLength(900);
    expect(pb).toEqual(pa.slice(0, 900));
    // Two shared blocks: the first 1,024 tokens agree; the third block differs.
    expect(pa.slice(0, 1024)).toEqual(blockPrompt({ ...b, inputTokens: 1100 }, 7, 32000, special).slice(0, 1024));
    expect(pa.slice(1024, 1030)).not.toEqual(blockPrompt({ ...b, inputTokens: 1100 }, 7, 32000, special).slice(1024, 1030));
    // Scaled by 280/1105, blocks of 130 tokens: still shared block for block, and different from the third on.
    const c = { ...b, id: 'c', inputTokens: 1100 };
    const scaled = fitToContext([a, b, c], 280, 'scale', 'test').requests;
    expect(scaled.map((r) => [r.inputTokens, r.blockTokens])).toEqual([
      [278, 130],
      [228, 130],
      [278, 130],
    ]);
    const [sa, sb, sc] = scaled.map((r) => blockPrompt(r, 7, 32000, special));
    expect(sb).toEqual(sa.slice(0, 228));
    expect(sc.slice(0, 260)).toEqual(sa.slice(0, 260));
    expect(sc.slice(260, 270)).not.toEqual(sa.slice(260, 270));
  });

  it('imply a hit rate: each request served up to its first unseen block, less its last token', () => {
    const reqs = [
      { id: 'a', arrivalMs: 0, inputTokens: 1024, outputTokens: 1, hashIds: [1, 2] },
      { id: 'b', arrivalMs: 1, inputTokens: 1500, outputTokens: 1, hashIds: [1, 2, 3] }, // 1,024 cached
      { id: 'c', arrivalMs: 2, inputTokens: 1024, outputTokens: 1, hashIds: [1, 2] }, // all but one: 1,023
      { id: 'd', arrivalMs: 3, inputTokens: 512, outputTokens: 1, hashIds: [4] },
    ];
    expect(impliedHitRate(reqs)).toBeCloseTo((1024 + 1023) / (1024 + 1500 + 1024 + 512), 12);
    expect(impliedHitRate([{ id: 'x', inputTokens: 5, outputTokens: 1 }])).toBeNull();
    // A prompt that ends inside a block leaves only that part known: the next one is served 512 + 188 tokens, not 1,024.
    const partial = [
      { id: 'a', arrivalMs: 0, inputTokens: 700, outputTokens: 1, hashIds: [1, 2] },
      { id: 'b', arrivalMs: 1, inputTokens: 1500, outputTokens: 1, hashIds: [1, 2, 3] },
    ];
    expect(impliedHitRate(partial)).toBeCloseTo(700 / 2200, 12);
  });

  it('a replay reports the hit rate the trace implies next to the one it got', async () => {
    // Six conversations of four turns: each turn's prompt holds the previous ones (Mooncake's conversation trace).
    const lines: string[] = [];
    for (let turn = 0; turn < 4; turn++) {
      for (let c = 0; c < 6; c++) {
        const blocks = Array.from({ length: turn + 1 }, (_, k) => c * 100 + k);
        lines.push(JSON.stringify({ timestamp: (turn * 6 + c) * 300, input_length: 512 * (turn + 1), output_length: 8, hash_ids: blocks }));
      }
    }
    const file = path('mooncake-turns.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = await runCli(['replay', file, '--speed', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/scaled by 0\.49/);
    const implied = Number(/imply a hit rate of ([\d.]+)%/.exec(r.stdout)![1]);
    const got = Number(/the replay got ([\d.]+)%/.exec(r.stdout)![1]);
    // Scaled by 1024/2056, a block is 255 tokens and the turns 255, 510, 765 and 1020: each turn after the
    // first finds its conversation's earlier blocks, 255 + 510 + 765 of 2550 prompt tokens.
    expect(implied).toBeCloseTo(60, 1);
    // The warm-ups (reversed prompts) put none of the trace's prefixes in the cache ahead of it.
    expect(got).toBeGreaterThan(implied * 0.8);
    expect(got).toBeLessThanOrEqual(implied + 0.05);
  });
});
