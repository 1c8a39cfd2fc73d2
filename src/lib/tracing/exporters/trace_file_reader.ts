import { readFileSync } from 'node:fs';
import { SglError } from '../../errors.js';
import type { WorkloadRecord } from '../finished_request.js';
import type { TraceHeader } from '../tracing.js';
import { HEADER_EVENT, WORKLOAD_EVENT } from './trace_file_writer.js';

export class TraceFileError extends SglError {}

export interface TraceEventLine {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

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
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TraceFileError(`Cannot read the trace file ${path}: ${(err as Error).message}`);
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
    if (typeof event !== 'object' || event === null || typeof event.name !== 'string' || typeof event.ph !== 'string') {
      throw new TraceFileError(`${path}:${i + 1}: expected a trace event with "name" and "ph".`);
    }
    out.completeLines = i + 1;
    if (event.name === HEADER_EVENT) out.header = event.args as unknown as TraceHeader;
    else if (event.name === WORKLOAD_EVENT) out.workloads.push(event.args as unknown as WorkloadRecord);
    out.events.push(event);
  }
  return out;
}
