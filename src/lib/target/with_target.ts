import type { EngineOptions } from '../engine/engine.js';
import { loadModelSpec } from '../engine/model_dir.js';
import type { ModelSpec } from '../engine/model_dir.js';
import { TextTokenizer } from '../engine/tokenizer/tokenizer.js';
import type { FinishedRequest } from '../tracing/finished_request.js';
import { createTracing } from '../tracing/tracing_setup.js';
import type { TracingSetup } from '../tracing/tracing_setup.js';
import type { WorkloadTokenizer } from '../workload/load_workload.js';
import { EngineSession } from './engine_session.js';
import { connectTargets } from './fleet.js';
import type { FleetPolicy } from './fleet.js';
import { EngineTarget } from './engine_target.js';
import { HttpTarget } from './http_target.js';
import type { BenchTarget, Endpoint } from './targets.js';

/** Where bench and replay send their requests: the in-process engine, or the servers given with --url. */
export interface TargetSetup {
  /** Servers to send to (--url, once or more); none: the in-process engine. */
  urls?: readonly string[];
  policy?: FleetPolicy;
  endpoint: Endpoint;
  apiKey?: string;
  /** --url, completions: send token ids instead of text. */
  sendIds?: boolean;
  /** --url: ask for each request's own timing (include_timing). */
  serverTiming?: boolean;
  engine: Omit<EngineOptions, 'tracing'>;
  /** How the run is traced: the engine's stages in-process; the client's side of each request (module client) with --url. */
  tracing: TracingSetup;
}

/** An open target, the same shape for both kinds, so bench and replay drive it without asking which it is. */
export interface OpenTarget {
  target: BenchTarget;
  /** The model the workload is tokenized with: the one loaded, or (--url) the local one named by --model-path. */
  spec: ModelSpec;
  tokenizer: WorkloadTokenizer;
  /** The in-process engine's session; null with --url. */
  session: EngineSession | null;
  /** --url: every server that answered; empty in-process. */
  servers: HttpTarget[];
  /** Servers left out and the like: things the run goes on despite. */
  warnings: string[];
  /** The most tokens a request may hold there, and what says so. */
  context: { tokens: number; source: string };
  /** Runs `work` with tracing off, so warm-up requests stay out of captures and stage tables. */
  untraced<T>(work: () => Promise<T>): Promise<T>;
  /** The requests the in-process engine traced so far (none with --url: the server traces its own). */
  traced(): Promise<readonly FinishedRequest[]>;
}

/** The local model's tokenizer in the shape workloads take. */
export function workloadTokenizer(spec: ModelSpec): WorkloadTokenizer {
  const tok = new TextTokenizer(spec);
  return { vocabSize: spec.vocabSize ?? 32000, specialIds: spec.eosTokenIds, encode: (t) => tok.encode(t, false), decode: (ids) => tok.decode(ids) };
}

/** Opens the target `o` names, runs `run` on it, and closes it (engine and exporters, or connections and the client's tracing) whatever happens. */
export async function withTarget<T>(o: TargetSetup, run: (t: OpenTarget) => Promise<T>): Promise<T> {
  if (!o.urls?.length) {
    const session = await EngineSession.start(o.engine, o.tracing);
    try {
      const { engine } = session;
      // Measured against a warm engine: its KV cache resident, as a server's is after its first idle seconds.
      await engine.warm;
      const kv = engine.info.limits.maxTotalTokens;
      const context = {
        tokens: Math.min(engine.spec.contextLength, kv),
        source: kv < engine.spec.contextLength ? `the engine's KV budget of ${kv} tokens` : `${engine.spec.id}'s context length`,
      };
      const untraced = <R>(work: () => Promise<R>): Promise<R> => session.untraced(work);
      return await run({
        target: new EngineTarget(engine),
        spec: engine.spec,
        tokenizer: workloadTokenizer(engine.spec),
        session,
        servers: [],
        warnings: [],
        context,
        untraced,
        traced: () => session.traced(),
      });
    } finally {
      await session.close();
    }
  }
  const spec = loadModelSpec(o.engine.modelPath);
  const tokenizer = workloadTokenizer(spec);
  // The client's side of each request, under the trace id the server continues.
  const tracing = await createTracing({ ...o.tracing, modules: ['client'], keep: undefined });
  let close = (): void => undefined;
  try {
    const options = {
      apiKey: o.apiKey,
      countTokens: (t: string) => tokenizer.encode(t).length,
      sendIds: o.sendIds ?? false,
      serverTiming: o.serverTiming ?? false,
      tracing,
    };
    const fleet = await connectTargets(o.urls, (url) => HttpTarget.connect(url, o.endpoint, options), o.policy ?? 'round-robin', tracing);
    close = () => fleet.target.close();
    const first = fleet.servers[0];
    const where = fleet.servers.length > 1 ? `${first.url} (the first server)` : first.url;
    const context = first.contextLength
      ? { tokens: first.contextLength, source: `${first.model}'s max_model_len at ${where}` }
      : { tokens: spec.contextLength, source: `${spec.id}'s context length; ${where} does not say its own` };
    const level = o.tracing.level;
    const untraced = async <R>(work: () => Promise<R>): Promise<R> => {
      tracing.setLevel(0);
      try {
        return await work();
      } finally {
        tracing.setLevel(level);
      }
    };
    return await run({
      target: fleet.target,
      spec,
      tokenizer,
      session: null,
      servers: fleet.servers,
      warnings: fleet.warnings,
      context,
      untraced,
      traced: async () => [],
    });
  } finally {
    close();
    await tracing.shutdown();
  }
}
