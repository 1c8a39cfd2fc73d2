import { TraceFileError } from '../../errors.js';
import { FILE_LIMITS, bounded, readInputFile } from '../../input_file.js';
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
 * Reads a trace file written by sgl, one event per line. A file cut short
 * (no closing bracket, a partial last line) loads every complete event; a
 * damaged line anywhere else is an error naming the file, the line and what
 * was expected there.
 */
export function readTraceFile(path: string): TraceFile {
  let text: string;
  try {
    text = readInputFile(path);
  } catch (err) {
    throw new TraceFileError(`Cannot read the trace file ${path}: ${(err as Error).message}.`);
  }
  const lines = text.split('\n');
  if (!lines[0].startsWith('[')) {
    throw new TraceFileError(`${path}:1: expected "[" (a Chrome Trace Event JSON array written by sgl trace --trace-file), found ${JSON.stringify(lines[0].slice(0, 40))}.`);
  }
  const out: TraceFile = { header: null, events: [], workloads: [], truncated: true, completeLines: 1 };
  let lastContent = lines.length - 1;
  while (lastContent > 0 && lines[lastContent].trim() === '') lastContent--;
  for (let i = 1; i <= lastContent; i++) {
    let line = lines[i].trim();
    if (line === '') continue;
    if (line === ']') {
      out.truncated = false;
      break;
    }
    if (line.startsWith(',')) line = line.slice(1);
    if (line.endsWith(',')) line = line.slice(0, -1);
    let event: TraceEventLine;
    try {
      event = JSON.parse(line);
    } catch (err) {
      if (i === lastContent) break; // cut mid-event: keep what came before
      throw new TraceFileError(`${path}:${i + 1}: expected one trace event as a JSON object, but ${(err as Error).message}.`);
    }
    const fail: Fail = (message) => {
      throw new TraceFileError(`${path}:${i + 1}: ${message}`);
    };
    checkEvent(event, fail);
    out.completeLines = i + 1;
    if (event.name === HEADER_EVENT) out.header = event.args as unknown as TraceHeader;
    else if (event.name === WORKLOAD_EVENT) out.workloads.push(workloadRecord(event.args!, fail));
    out.events.push(event);
  }
  return out;
}

/** Microsecond timestamps past this (about 31 years of uptime) are damage, not data. */
const MAX_TS_US = 1e15;

function checkEvent(event: TraceEventLine, fail: Fail): void {
  if (typeof event !== 'object' || event === null || typeof event.name !== 'string' || typeof event.ph !== 'string') fail('expected a trace event with "name" and "ph".');
  bounded(event.ts, 'ts', 0, MAX_TS_US, fail);
  if (event.dur !== undefined) bounded(event.dur, 'dur', 0, FILE_LIMITS.durationMs * 1000, fail);
  if (event.args !== undefined && (typeof event.args !== 'object' || event.args === null || Array.isArray(event.args))) fail('expected "args" to be an object.');
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
    if (!Array.isArray(w.inputIds) || w.inputIds.length > FILE_LIMITS.tokens) fail(`expected "inputIds" to be an array of at most ${FILE_LIMITS.tokens} token ids.`);
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
