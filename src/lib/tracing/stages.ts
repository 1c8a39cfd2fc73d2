/**
 * The registry of trace modules. Each module declares its stages (slices)
 * and events with the lowest trace level that records them. Names are the
 * keys users type in `--trace-module`; ids index preallocated storage.
 */
export type Thread = 'main' | 'worker';

export interface StageDef {
  level: 1 | 2 | 3;
  thread: Thread;
  /** Whether the stage feeds sglang:per_stage_req_latency_seconds. */
  metric: boolean;
  /** Nested stages only appear at level 3. */
  nested?: boolean;
}

export interface EventDef {
  level: 1 | 2 | 3;
  thread: Thread;
  /** Names of the two numeric attributes the event carries, if any. */
  attrs?: readonly [string, string?];
}

export const TRACE_MODULES = {
  request: {
    description: 'the life of each request: the stage table of DESIGN.md, plus HTTP parsing when served',
    stages: {
      parse_request: { level: 2, thread: 'main', metric: true },
      tokenize: { level: 1, thread: 'main', metric: true },
      dispatch: { level: 2, thread: 'worker', metric: false },
      queue_wait: { level: 1, thread: 'worker', metric: true },
      prefill_prepare: { level: 2, thread: 'worker', metric: true },
      prefill_forward: { level: 1, thread: 'worker', metric: true },
      chunked_prefill: { level: 3, thread: 'worker', metric: true, nested: true },
      decode_loop: { level: 1, thread: 'worker', metric: true },
      decode_forward: { level: 3, thread: 'worker', metric: true, nested: true },
      detokenize_wait: { level: 2, thread: 'main', metric: false },
      detokenize: { level: 2, thread: 'main', metric: true },
      respond: { level: 2, thread: 'main', metric: false },
    },
    events: {
      first_token: { level: 1, thread: 'worker' },
      finish: { level: 1, thread: 'worker' },
      abort: { level: 1, thread: 'worker' },
      schedule: { level: 3, thread: 'worker', attrs: ['batch_id', 'batch_size'] },
    },
  },
  scheduler: {
    description: 'batch formation: which batch a request runs in, KV repacks',
    stages: {
      kv_repack: { level: 3, thread: 'worker', metric: false, nested: true },
    },
    events: {
      batch_formed: { level: 2, thread: 'worker', attrs: ['batch_id', 'batch_size'] },
    },
  },
  engine: {
    description: 'each onnxruntime run: input preparation, the run, sampling',
    stages: {
      prepare_inputs: { level: 3, thread: 'worker', metric: false, nested: true },
      ort_run: { level: 3, thread: 'worker', metric: false, nested: true },
      sample: { level: 3, thread: 'worker', metric: false, nested: true },
    },
    events: {
      forward: { level: 3, thread: 'worker', attrs: ['batch_size', 'past_length'] },
    },
  },
  cache: {
    description: "the prefix cache: copying a prompt's cached KV in, inserting prompts, evicting",
    stages: {
      cache_copy_in: { level: 3, thread: 'worker', metric: true, nested: true },
      cache_insert: { level: 3, thread: 'worker', metric: true, nested: true },
    },
    events: {
      cached_prefix: { level: 1, thread: 'worker', attrs: ['cached_tokens', 'matched_tokens'] },
      cache_evict: { level: 2, thread: 'worker', attrs: ['evicted_tokens', 'cache_tokens'] },
    },
  },
  client: {
    description: "the client's side of each request sent to a server (sgl bench and replay with --url), under the trace id the server continues",
    stages: {
      send: { level: 1, thread: 'main', metric: false },
      connect: { level: 3, thread: 'main', metric: false, nested: true },
      wait_response: { level: 1, thread: 'main', metric: false },
      wait_first_token: { level: 1, thread: 'main', metric: false },
      stream: { level: 1, thread: 'main', metric: false },
    },
    events: {
      content: { level: 3, thread: 'main' },
    },
  },
} as const satisfies Record<string, { description: string; stages: Record<string, StageDef>; events: Record<string, EventDef> }>;

export type TraceModule = keyof typeof TRACE_MODULES;
export const MODULE_NAMES = Object.keys(TRACE_MODULES) as TraceModule[];

type StagesOf<M extends TraceModule> = keyof (typeof TRACE_MODULES)[M]['stages'] & string;
type EventsOf<M extends TraceModule> = keyof (typeof TRACE_MODULES)[M]['events'] & string;
export type StageName = { [M in TraceModule]: StagesOf<M> }[TraceModule];
export type EventName = { [M in TraceModule]: EventsOf<M> }[TraceModule];

export interface StageEntry extends StageDef {
  id: number;
  name: StageName;
  module: TraceModule;
}
export interface EventEntry extends EventDef {
  id: number;
  name: EventName;
  module: TraceModule;
}

function flatten<T, N extends string>(
  pick: (m: (typeof TRACE_MODULES)[TraceModule]) => Record<string, T>,
): (T & { id: number; name: N; module: TraceModule })[] {
  const out: (T & { id: number; name: N; module: TraceModule })[] = [];
  for (const module of MODULE_NAMES) {
    for (const [name, def] of Object.entries(pick(TRACE_MODULES[module]))) out.push({ ...def, id: out.length, name: name as N, module });
  }
  return out;
}

/** Every stage of every module, indexed by id. */
export const STAGES: readonly StageEntry[] = flatten<StageDef, StageName>((m) => m.stages);
export const EVENTS: readonly EventEntry[] = flatten<EventDef, EventName>((m) => m.events);

const stageIds = Object.fromEntries(STAGES.map((s) => [s.name, s.id])) as Record<StageName, number>;
const eventIds = Object.fromEntries(EVENTS.map((e) => [e.name, e.id])) as Record<EventName, number>;

/** Stage ids by name, for instrumentation points: `S.decode_forward`. */
export const S: Readonly<Record<StageName, number>> = stageIds;
/** Event ids by name: `E.first_token`. */
export const E: Readonly<Record<EventName, number>> = eventIds;
