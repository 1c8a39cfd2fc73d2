import { now } from './clock.js';
import type { TraceMask } from './trace_config.js';

import { KIND_ABORTED, KIND_EVENT, KIND_SLICE, RECORD, writeRecord } from './records.js';

const MAX_DEPTH = 8;

/**
 * One request's instrumentation on one thread. Each stage boundary takes one
 * timestamp; the record goes to preallocated storage and later feeds both
 * the span path and the stage histograms. Callers never test whether
 * tracing is on: a request that records nothing holds NULL_CONTEXT.
 */
export interface TraceContext {
  /** Opens a slice (nested in the open one, if any). */
  begin(stage: number, t?: number): void;
  /** Closes the innermost open slice, which must be `stage`. */
  end(stage: number, t?: number): void;
  /** Auto-next: closes `stage` and opens `next` at the same timestamp. */
  next(stage: number, next: number, t?: number): void;
  /** A complete slice whose times are known (batch steps shared by many requests). */
  slice(stage: number, start: number, end: number): void;
  event(event: number, t: number, a?: number, b?: number): void;
  /** Closes every open slice as failed; no path leaves a slice open. */
  abort(t?: number): void;
  /** The records so far, `RECORD` doubles each. */
  records(): Float64Array;
}

const EMPTY = new Float64Array(0);

class NullTraceContext implements TraceContext {
  begin(): void {}
  end(): void {}
  next(): void {}
  slice(): void {}
  event(): void {}
  abort(): void {}
  records(): Float64Array {
    return EMPTY;
  }
}

/** Shared by every request that records nothing: no allocation, no state. */
export const NULL_CONTEXT: TraceContext = new NullTraceContext();

export class TraceMetricContext implements TraceContext {
  private buf: Float64Array;
  private used = 0;
  private depth = 0;
  private readonly openStage = new Int32Array(MAX_DEPTH);
  private readonly openStart = new Float64Array(MAX_DEPTH);
  private readonly stages: Uint8Array;
  private readonly events: Uint8Array;

  constructor(mask: TraceMask, capacity = 16) {
    this.stages = mask.stages;
    this.events = mask.events;
    this.buf = new Float64Array(capacity * RECORD);
  }

  begin(stage: number, t: number = now()): void {
    if (this.stages[stage] === 0 || this.depth === MAX_DEPTH) return;
    this.openStage[this.depth] = stage;
    this.openStart[this.depth++] = t;
  }

  end(stage: number, t: number = now()): void {
    if (this.stages[stage] === 0 || this.depth === 0 || this.openStage[this.depth - 1] !== stage) return;
    this.depth--;
    this.push(KIND_SLICE, stage, this.openStart[this.depth], t, this.depth, 0, 0);
  }

  next(stage: number, next: number, t: number = now()): void {
    this.end(stage, t);
    this.begin(next, t);
  }

  slice(stage: number, start: number, end: number): void {
    if (this.stages[stage] !== 0) this.push(KIND_SLICE, stage, start, end, this.depth, 0, 0);
  }

  event(event: number, t: number, a = 0, b = 0): void {
    if (this.events[event] !== 0) this.push(KIND_EVENT, event, t, t, this.depth, a, b);
  }

  abort(t: number = now()): void {
    while (this.depth > 0) {
      this.depth--;
      this.push(KIND_ABORTED, this.openStage[this.depth], this.openStart[this.depth], t, this.depth, 0, 0);
    }
  }

  records(): Float64Array {
    return this.buf.subarray(0, this.used);
  }

  private push(kind: number, id: number, start: number, end: number, depth: number, a: number, b: number): void {
    if (this.used + RECORD > this.buf.length) {
      const grown = new Float64Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    writeRecord(this.buf, this.used, kind, id, start, end, depth, a, b);
    this.used += RECORD;
  }
}
