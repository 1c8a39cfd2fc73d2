import type { ChatMessage, FinishReason } from '../protocol.js';
import type { TraceModule } from './stages.js';
import type { TraceLevel } from './trace_config.js';

/** What replay needs to re-issue a request; one per finished request in the trace file. */
export interface WorkloadRecord {
  rid: string;
  /** Milliseconds from the start of the capture to the request's arrival. */
  arrivalMs: number;
  inputTokens: number;
  /** Prompt tokens the prefix cache supplied (absent in captures made before the cache). */
  cachedTokens?: number;
  /** Only with content capture (--trace-include-content); replay uses random ids of the same count otherwise. */
  inputIds?: number[];
  /** Stop strings are content: only with --trace-include-content. */
  sampling: { maxTokens: number; temperature: number; topP: number; topK: number; seed: number; ignoreEos: boolean; stop?: string[] };
  outputTokens: number;
  finishReason: FinishReason | 'error';
  ttftMs: number | null;
  e2eMs: number;
  /** Total milliseconds per stage, over both threads. */
  stages: Record<string, number>;
  prompt?: string;
  /** A chat request's messages (with content capture). */
  messages?: ChatMessage[];
  output?: string;
}

/**
 * A request whose tracing is complete: the plain numbers both threads
 * recorded, handed to exporters off the hot path.
 */
export interface FinishedRequest {
  rid: string;
  traceId: string;
  /** The root span's id; the worker's records came back under it. */
  rootSpanId: string;
  /** The span that was given with the request (W3C traceparent), if any. */
  parentSpanId: string | null;
  traceState?: string;
  level: TraceLevel;
  modules: readonly TraceModule[];
  /** Per stage / event: non-zero when it belongs in spans (the rest fed metrics only). */
  spanStages: Uint8Array;
  spanEvents: Uint8Array;
  /** Clock milliseconds (see clock.ts). */
  start: number;
  end: number;
  main: Float64Array;
  worker: Float64Array;
  error: string | null;
  model: string;
  /** GenAI operation name: chat when the request came as messages. */
  operation: 'chat' | 'text_completion';
  workload: WorkloadRecord;
  /** The client's side of a request sent to a server (sgl bench or replay with --url): `main` holds the client's records. */
  client?: boolean;
  /** In a merged capture (`sgl trace merge`), the servers' sides of this client request, on the same clock. */
  remote?: FinishedRequest[];
  /** Epoch ms of the clock its times count from, when it was read from a file (its process's clock origin); absent: this process's clock. */
  epochOrigin?: number;
}
