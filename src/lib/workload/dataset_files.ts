import { JSONParser } from '@streamparser/json';
import { FILE_LIMITS, bounded, inputChunks, inputLines } from '../input_file.js';
import type { Fail } from '../input_file.js';
import { TraceReader } from '../tracing/trace_file/reader.js';
import { WORKLOAD_EVENT } from '../tracing/trace_file/format.js';
import type { WorkloadRecord } from '../tracing/finished_request.js';
import type { TraceHeader } from '../tracing/tracing.js';
import { usableRid } from '../request_id.js';
import type { RequestSpec, Workload } from './request_spec.js';
import { WorkloadError } from '../errors.js';

/**
 * Which requests of a file to take: those whose arrival offset (ms after
 * the file's first request; a capture's own offsets for sgl traces) falls in
 * `window`, the first `count` of them. Readers stop reading once they have
 * them, so `--limit 10` of a file of millions of rows reads ten rows.
 */
export interface Selection {
  count: number;
  window?: readonly [number, number] | null;
}

export const inWindow = (s: Selection, ms: number): boolean => !s.window || (ms >= s.window[0] && ms < s.window[1]);

/** The file's lines, read as they are needed; a file that cannot be read is a WorkloadError naming it. */
export function* lines(path: string): Generator<string> {
  try {
    yield* inputLines(path);
  } catch (err) {
    if (err instanceof WorkloadError) throw err;
    throw new WorkloadError(path, null, `cannot read it (${(err as Error).message}).`);
  }
}

const ENOUGH = new Error('enough conversations');

/**
 * A ShareGPT-style JSON file: an array of {conversations: [{from, value}]}.
 * The first human turn is the prompt; the reply's length, tokenized, is the
 * output length. Conversations without a reply are skipped. The array is
 * parsed as it streams, one conversation at a time, and reading stops once
 * `count` requests are made.
 */
export function shareGptWorkload(path: string, encode: (text: string) => number[], count: number): Workload {
  const requests: RequestSpec[] = [];
  if (count <= 0) return { name: `sharegpt ${path}`, requests };
  let i = 0;
  let opened = false;
  const parser = new JSONParser({ paths: ['$.*'], keepStack: false });
  parser.onValue = ({ value }) => {
    const at = `[${i}]`;
    const n = i++;
    const turns = (value as { conversations?: unknown })?.conversations;
    if (!Array.isArray(turns)) throw new WorkloadError(path, at, 'expected an object with a "conversations" array.');
    const valid = turns.every((t) => typeof t === 'object' && t !== null && typeof (t as { value?: unknown }).value === 'string');
    if (!valid) throw new WorkloadError(path, `${at}.conversations`, 'expected turns of {"from": string, "value": string}.');
    if (turns.length < 2 || requests.length >= count) return;
    const prompt = (turns[0] as { value: string }).value;
    const inputIds = encode(prompt);
    const outputTokens = encode((turns[1] as { value: string }).value).length;
    if (inputIds.length === 0 || outputTokens === 0) return;
    requests.push({ id: `sharegpt-${n}`, prompt, inputIds, inputTokens: inputIds.length, outputTokens });
    // Stops the parser mid-chunk: what follows is never parsed.
    if (requests.length >= count) throw ENOUGH;
  };
  try {
    for (const chunk of inputChunks(path)) {
      if (!opened) {
        const start = chunk.trimStart();
        if (start === '') continue;
        if (!start.startsWith('[')) throw new WorkloadError(path, null, 'expected a JSON array of conversations.');
        opened = true;
      }
      parser.write(chunk);
      if (requests.length >= count) break;
    }
    if (requests.length < count && !parser.isEnded) parser.end();
  } catch (err) {
    if (err === ENOUGH) return { name: `sharegpt ${path}`, requests };
    if (err instanceof WorkloadError) throw err;
    throw new WorkloadError(path, null, `expected a JSON array of {"conversations": [{"from", "value"}]}, but ${(err as Error).message}.`);
  }
  return { name: `sharegpt ${path}`, requests };
}

/**
 * Mooncake-style JSONL: one {"timestamp" (ms), "input_length", "output_length", "hash_ids"} per line
 * (the conversation, synthetic and toolagent traces; hash_ids become shared token blocks, hash_blocks.ts).
 * Lengths are kept as given, zeros included: the caller decides what to do with empty rows.
 */
export function mooncakeWorkload(path: string, select: Selection | number): Workload {
  const s = selection(select);
  const requests: RequestSpec[] = [];
  let first: number | null = null;
  let n = 0;
  for (const raw of lines(path)) {
    n++;
    if (requests.length >= s.count) break;
    const line = raw.trim();
    if (line === '') continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new WorkloadError(path, String(n), `expected one JSON object per line, but ${(err as Error).message}.`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new WorkloadError(path, String(n), 'expected one JSON object per line.');
    const fail = failAt(path, String(n));
    const timestamp = bounded(rec.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER, fail);
    const input = bounded(rec.input_length, 'input_length', 0, FILE_LIMITS.tokens, fail, true);
    const output = bounded(rec.output_length, 'output_length', 0, FILE_LIMITS.tokens, fail, true);
    first ??= timestamp;
    const arrivalMs = arrivalOffset(timestamp - first, 'timestamp', fail);
    const hashIds = Array.isArray(rec.hash_ids) && rec.hash_ids.every((h) => Number.isSafeInteger(h)) ? (rec.hash_ids as number[]) : undefined;
    if (inWindow(s, arrivalMs))
      requests.push({ id: `mooncake-${n}`, inputTokens: input, outputTokens: output, arrivalMs, ...(hashIds?.length ? { hashIds } : {}) });
  }
  return { name: `mooncake ${path}`, requests };
}

/** A capture's selected workload records, with what its header says, read in one pass. */
export interface CapturedWorkload {
  workload: Workload;
  /** The workload records behind `workload.requests`, in the same order. */
  records: WorkloadRecord[];
  header: TraceHeader | null;
  truncated: boolean;
}

/**
 * The workload an sgl trace file captured: what replay and bench re-issue,
 * in arrival order. Records are written as requests finish, so the file is
 * read to its end, holding at most about 2 × count records at a time.
 */
export function capturedWorkload(path: string, select: Selection | number): CapturedWorkload {
  const s = selection(select);
  const reader = new TraceReader(path);
  let kept: WorkloadRecord[] = [];
  const byArrival = (a: WorkloadRecord, b: WorkloadRecord): number => a.arrivalMs - b.arrivalMs;
  let seen = 0;
  for (const e of reader.events()) {
    if (e.name !== WORKLOAD_EVENT) continue;
    seen++;
    const w = e.args as unknown as WorkloadRecord;
    if (!inWindow(s, w.arrivalMs)) continue;
    kept.push(w);
    if (kept.length >= 2 * s.count && kept.length >= 1024) kept = kept.sort(byArrival).slice(0, s.count);
  }
  if (seen === 0) throw new WorkloadError(path, null, 'holds no workload records; capture one with --trace-file at trace level 1 or more.');
  const records = kept.sort(byArrival).slice(0, s.count);
  const first = records[0]?.arrivalMs ?? 0;
  const requests = records.map((w): RequestSpec => ({
    id: usableRid(w.rid),
    ...(w.inputIds ? { inputIds: w.inputIds } : {}),
    inputTokens: w.inputTokens,
    outputTokens: Math.max(1, w.outputTokens),
    arrivalMs: w.arrivalMs - first,
    sampling: { temperature: w.sampling.temperature, topP: w.sampling.topP, topK: w.sampling.topK, seed: w.sampling.seed },
  }));
  return {
    workload: { name: `trace ${path}${reader.truncated ? ' (cut short)' : ''}`, requests },
    records,
    header: reader.header,
    truncated: reader.truncated,
  };
}

/** The workload an sgl trace file captured (see capturedWorkload). */
export function traceWorkload(path: string, select: Selection | number): Workload {
  return capturedWorkload(path, select).workload;
}

export const selection = (s: Selection | number): Selection => (typeof s === 'number' ? { count: s } : s);

export const failAt =
  (path: string, where: string): Fail =>
  (message) => {
    throw new WorkloadError(path, where, message);
  };

/** An arrival's offset from the workload's first request, within FILE_LIMITS.offsetMs. */
export function arrivalOffset(ms: number, field: string, fail: Fail): number {
  if (Math.abs(ms) > FILE_LIMITS.offsetMs)
    fail(`expected "${field}" within a year (${FILE_LIMITS.offsetMs} ms) of the first request's, got ${ms} ms after it.`);
  return ms;
}
