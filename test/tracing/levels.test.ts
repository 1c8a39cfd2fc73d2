import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/lib/engine/engine.js';
import { readTraceFile } from '../../src/lib/tracing/trace_file/reader.js';
import { TraceFileWriter } from '../../src/lib/tracing/trace_file/writer.js';
import type { TraceModule } from '../../src/lib/tracing/stages.js';
import type { TraceLevel } from '../../src/lib/tracing/trace_config.js';
import { Tracing } from '../../src/lib/tracing/tracing.js';
import { MemoryExporter } from '../../src/lib/tracing/exporters/memory_exporter.js';
import { spanNames } from '../helpers/tracing.js';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { requestSpans } from '../../src/lib/tracing/exporters/otel_spans.js';
import { spanCount } from '../../src/lib/tracing/records.js';

const REQUEST: Record<TraceLevel, { stages: string[]; events: string[] }> = {
  0: { stages: [], events: [] },
  1: { stages: ['tokenize', 'queue_wait', 'prefill_forward', 'decode_loop'], events: ['first_token', 'finish'] },
  2: {
    stages: ['tokenize', 'dispatch', 'queue_wait', 'prefill_prepare', 'prefill_forward', 'decode_loop', 'detokenize_wait', 'detokenize', 'respond'],
    events: ['first_token', 'finish'],
  },
  3: {
    stages: [
      'tokenize',
      'dispatch',
      'queue_wait',
      'prefill_prepare',
      'prefill_forward',
      'chunked_prefill',
      'decode_loop',
      'decode_forward',
      'detokenize_wait',
      'detokenize',
      'respond',
    ],
    events: ['first_token', 'finish', 'schedule'],
  },
};
const SCHEDULER: Record<TraceLevel, { stages: string[]; events: string[] }> = {
  0: { stages: [], events: [] },
  1: { stages: [], events: [] },
  2: { stages: [], events: ['batch_formed'] },
  3: { stages: ['kv_repack'], events: ['batch_formed'] },
};
const ENGINE: Record<TraceLevel, { stages: string[]; events: string[] }> = {
  0: { stages: [], events: [] },
  1: { stages: [], events: [] },
  2: { stages: [], events: [] },
  3: { stages: ['prepare_inputs', 'ort_run', 'sample'], events: ['forward'] },
};
/** No prompt here shares a prefix with another, and nothing is evicted: a match (of nothing) and an insert each. */
const CACHE: Record<TraceLevel, { stages: string[]; events: string[] }> = {
  0: { stages: [], events: [] },
  1: { stages: [], events: ['cached_prefix'] },
  2: { stages: [], events: ['cached_prefix'] },
  3: { stages: ['cache_copy_in', 'cache_insert'], events: ['cached_prefix'] },
};
/** The client module records in a client of a server (test/load), never in the engine. */
const NOTHING = { stages: [], events: [] };
const CLIENT: Record<TraceLevel, { stages: string[]; events: string[] }> = { 0: NOTHING, 1: NOTHING, 2: NOTHING, 3: NOTHING };
const BY_MODULE = { request: REQUEST, scheduler: SCHEDULER, engine: ENGINE, cache: CACHE, client: CLIENT };

/**
 * A stage records when its module is on and its level is within the
 * request's (traceMask: one rule per stage, module and level independent),
 * so every level with every module, the request module alone at each level,
 * and each other module set at the levels where it records something cover
 * the rule without running the whole product (each case starts an engine).
 */
const ALL: TraceModule[] = ['request', 'scheduler', 'engine', 'cache'];
const CASES: [TraceModule[], TraceLevel][] = [
  ...([0, 1, 2, 3] as TraceLevel[]).map((level): [TraceModule[], TraceLevel] => [ALL, level]),
  ...([1, 2, 3] as TraceLevel[]).map((level): [TraceModule[], TraceLevel] => [['request'], level]),
  [['request', 'scheduler'], 3],
  [['request', 'engine'], 3],
  [['scheduler', 'engine'], 2],
  [['scheduler', 'engine'], 3],
  [['request', 'cache'], 1],
  [['request', 'cache'], 3],
];
const dir = mkdtempSync(join(tmpdir(), 'sgl-levels-'));

/**
 * Two overlapping requests: the second joins the first's batch, the first
 * leaves before the second. The second is sent once the first is decoding
 * (requests reach the scheduler when their tokenization is done, in any
 * order), and the first has many steps left by then.
 */
async function workload(engine: Engine): Promise<void> {
  const sampling = (maxTokens: number) => ({ maxTokens, temperature: 0, ignoreEos: true });
  let decoding!: () => void;
  const firstDecoding = new Promise<void>((resolve) => (decoding = resolve));
  const first = (async () => {
    for await (const chunk of await engine.generate({ prompt: 'Hello there my friend', sampling: sampling(20) })) if (chunk.tokenIds.length) decoding();
  })();
  await firstDecoding;
  // Token ids, not text: no tokenizer round trip, so it joins while the first has most of its steps left.
  for await (const chunk of await engine.generate({ inputIds: engine.tokenizer.encode('Hi'), sampling: sampling(24) })) void chunk;
  await first;
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

describe('trace modules and levels', () => {
  const engines: Engine[] = [];
  afterAll(async () => {
    for (const e of engines) await e.shutdown();
  });

  it.each(CASES)('modules %j at level %i record exactly their stages, in spans and in the file', async (modules, level) => {
    const sink = new MemoryExporter();
    const file = join(dir, `${modules.join('-')}-${level}.json`);
    const writer = new TraceFileWriter(file);
    const tracing = new Tracing({ level, modules, exporters: [sink, writer] });
    const engine = await Engine.create({ tracing });
    engines.push(engine);
    await workload(engine);
    await tracing.shutdown();

    const want = { stages: sorted(modules.flatMap((m) => BY_MODULE[m][level].stages)), events: sorted(modules.flatMap((m) => BY_MODULE[m][level].events)) };
    if (level === 0) expect(sink.requests).toHaveLength(0);
    else expect(sink.requests).toHaveLength(2);
    const got = sink.requests.map(spanNames);
    expect(sorted(got.flatMap((g) => [...g.stages]))).toEqual(want.stages);
    expect(sorted(got.flatMap((g) => [...g.events]))).toEqual(want.events);
    // bench's spans/request column counts what the OTLP exporter sends.
    for (const req of sink.requests) expect(spanCount(req)).toBe(requestSpans(req, resourceFromAttributes({})).length);

    const trace = readTraceFile(file);
    expect(trace.truncated).toBe(false);
    expect(trace.header?.trace.level).toBe(level);
    const slices = trace.events.filter((e) => e.ph === 'X' && !e.name.startsWith('request '));
    const instants = trace.events.filter((e) => e.ph === 'i' && !e.name.startsWith('sgl.'));
    expect(sorted(slices.map((e) => e.name))).toEqual(want.stages);
    expect(sorted(instants.map((e) => e.name))).toEqual(want.events);
    expect(trace.workloads).toHaveLength(level === 0 ? 0 : 2);
  });
});
