import { TraceFileError } from '../../errors.js';
import { FILE_LIMITS, bounded, inputLines } from '../../input_file.js';
import type { Fail } from '../../input_file.js';
import type { WorkloadRecord } from '../finished_request.js';
import type { TraceHeader } from '../tracing.js';
import { HEADER_EVENT, WORKLOAD_EVENT } from './format.js';
import type { TraceEventLine } from './format.js';

export interface TraceFile {
  header: TraceHeader | null;
  events: TraceEventLine[];
  workloads: WorkloadRecord[];
  /** Whether the file ended without its closing bracket or mid-event (a capture cut short). */
  truncated: boolean;
  /** Lines read whole, the opening bracket included: where a cut-short file stops. */
  completeLines: number;
}

/**
 * Streams a trace file written by sgl, one event per line, in one pass and
 * in memory that does not grow with the file: `events()` yields each event
 * checked, and the header, workload records and whether the file was cut
 * short are known as reading reaches them. A file cut short (no closing
 * bracket, a partial last line) yields every complete event; a damaged line
 * anywhere else is an error naming the file, the line and what was expected
 * there.
 */
export class TraceReader {
  header: TraceHeader | null = null;
  /** Whether the file ended without its closing bracket or mid-event; final once `events()` is done. */
  truncated = true;
  /** Lines read whole, the opening bracket included: where a cut-short file stops. */
  completeLines = 1;

  constructor(readonly path: string) {}

  *events(): Generator<TraceEventLine> {
    const path = this.path;
    const lines = inputLines(path);
    let number = 0;
    // A line that does not parse is a file cut mid-event only if nothing but blank lines follows it.
    let damaged: TraceFileError | null = null;
    try {
      const first = lines.next();
      number = 1;
      const head = first.done ? '' : first.value;
      if (!head.startsWith('[')) {
        throw new TraceFileError(
          `${path}:1: expected "[" (a Chrome Trace Event JSON array written by sgl trace --trace-file), found ${JSON.stringify(head.slice(0, 40))}.`,
        );
      }
      for (const raw of lines) {
        number++;
        let line = raw.trim();
        if (line === '') continue;
        if (damaged) throw damaged;
        if (line === ']') {
          this.truncated = false;
          break;
        }
        if (line.startsWith(',')) line = line.slice(1);
        if (line.endsWith(',')) line = line.slice(0, -1);
        let event: TraceEventLine;
        try {
          event = JSON.parse(line);
        } catch (err) {
          damaged = new TraceFileError(`${path}:${number}: expected one trace event as a JSON object, but ${(err as Error).message}.`);
          continue;
        }
        const at = number;
        const fail: Fail = (message) => {
          throw new TraceFileError(`${path}:${at}: ${message}`);
        };
        // Most events are plain slices that pass at a glance; the rest get the checks that name what is wrong.
        if (!plainEvent(event)) checkEvent(event, fail);
        this.completeLines = number;
        if (event.name === HEADER_EVENT) this.header = event.args as unknown as TraceHeader;
        else if (event.name === WORKLOAD_EVENT) workloadRecord(event.args!, fail);
        yield event;
      }
    } catch (err) {
      if (err instanceof TraceFileError) throw err;
      throw new TraceFileError(`Cannot read the trace file ${path}: ${(err as Error).message}.`);
    } finally {
      // Closes the file however reading ends: at "]", on an error, or when the caller stops early.
      lines.return(undefined);
    }
  }
}

/** A whole trace file in memory: for captures known to be small (tests, a replay's own output). */
export function readTraceFile(path: string): TraceFile {
  const reader = new TraceReader(path);
  const events: TraceEventLine[] = [];
  const workloads: WorkloadRecord[] = [];
  for (const e of reader.events()) {
    events.push(e);
    if (e.name === WORKLOAD_EVENT) workloads.push(e.args as unknown as WorkloadRecord);
  }
  return { header: reader.header, events, workloads, truncated: reader.truncated, completeLines: reader.completeLines };
}

/** Microsecond timestamps past this (about 31 years of uptime) are damage, not data. */
const MAX_TS_US = 1e15;

const MAX_DUR_US = FILE_LIMITS.durationMs * 1000;

/** An event that passes every check of checkEvent, tested without building a message: the reader's hot path. */
function plainEvent(e: TraceEventLine): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.name === 'string' &&
    typeof e.ph === 'string' &&
    typeof e.ts === 'number' &&
    e.ts >= 0 &&
    e.ts <= MAX_TS_US &&
    (e.dur === undefined || (typeof e.dur === 'number' && e.dur >= 0 && e.dur <= MAX_DUR_US)) &&
    typeof e.args === 'object' &&
    e.args !== null &&
    !Array.isArray(e.args)
  );
}

function checkEvent(event: TraceEventLine, fail: Fail): void {
  if (typeof event !== 'object' || event === null || typeof event.name !== 'string' || typeof event.ph !== 'string')
    fail('expected a trace event with "name" and "ph".');
  bounded(event.ts, 'ts', 0, MAX_TS_US, fail);
  if (event.dur !== undefined) bounded(event.dur, 'dur', 0, FILE_LIMITS.durationMs * 1000, fail);
  if (event.args !== undefined && (typeof event.args !== 'object' || event.args === null || Array.isArray(event.args)))
    fail('expected "args" to be an object.');
  if ((event.name === WORKLOAD_EVENT || event.name === HEADER_EVENT) && event.args === undefined) fail(`expected "args" on the ${event.name} event.`);
}

/** A workload record, every number in bounds before replay, the simulator and the reports do arithmetic with it. */
function workloadRecord(args: Record<string, unknown>, fail: Fail): WorkloadRecord {
  const w = args as unknown as WorkloadRecord;
  if (typeof w.rid !== 'string' || w.rid === '') fail('expected "rid" to be a non-empty string.');
  if (typeof w.finishReason !== 'string') fail('expected "finishReason" to be a string.');
  bounded(w.arrivalMs, 'arrivalMs', 0, FILE_LIMITS.offsetMs, fail);
  bounded(w.inputTokens, 'inputTokens', 0, FILE_LIMITS.tokens, fail, true);
  bounded(w.outputTokens, 'outputTokens', 0, FILE_LIMITS.tokens, fail, true);
  bounded(w.e2eMs, 'e2eMs', 0, FILE_LIMITS.durationMs, fail);
  if (w.ttftMs !== null) bounded(w.ttftMs, 'ttftMs', 0, FILE_LIMITS.durationMs, fail);
  if (w.inputIds !== undefined) {
    if (!Array.isArray(w.inputIds) || w.inputIds.length > FILE_LIMITS.tokens)
      fail(`expected "inputIds" to be an array of at most ${FILE_LIMITS.tokens} token ids.`);
    w.inputIds.forEach((id, k) => bounded(id, `inputIds[${k}]`, 0, 2 ** 31, fail, true));
  }
  const s = w.sampling;
  if (typeof s !== 'object' || s === null) fail('expected "sampling" to be an object.');
  bounded(s.maxTokens, 'sampling.maxTokens', 0, FILE_LIMITS.tokens, fail, true);
  bounded(s.temperature, 'sampling.temperature', 0, 100, fail);
  bounded(s.topP, 'sampling.topP', 0, 1, fail);
  bounded(s.topK, 'sampling.topK', -1, 2 ** 31, fail, true);
  bounded(s.seed, 'sampling.seed', 0, 2 ** 32 - 1, fail, true);
  const stages = w.stages;
  if (typeof stages !== 'object' || stages === null || Array.isArray(stages)) fail('expected "stages" to be an object of stage times.');
  for (const [name, ms] of Object.entries(stages)) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) fail(`expected stage names in "stages", found ${JSON.stringify(name).slice(0, 70)}.`);
    bounded(ms, `stages.${name}`, 0, FILE_LIMITS.durationMs, fail);
  }
  return w;
}
