import { FILE_LIMITS, bounded, readInputFile } from '../input_file.js';
import type { Fail } from '../input_file.js';
import { readTraceFile } from '../tracing/trace_file/reader.js';
import { usableRid } from '../request_id.js';
import type { RequestSpec, Workload } from './request_spec.js';
import { WorkloadError } from '../errors.js';

function read(path: string): string {
  try {
    return readInputFile(path);
  } catch (err) {
    throw new WorkloadError(path, null, `cannot read it (${(err as Error).message}).`);
  }
}

/**
 * A ShareGPT-style JSON file: an array of {conversations: [{from, value}]}.
 * The first human turn is the prompt; the reply's length, tokenized, is the
 * output length. Conversations without a reply are skipped.
 */
export function shareGptWorkload(path: string, encode: (text: string) => number[], count: number): Workload {
  let data: unknown;
  try {
    data = JSON.parse(read(path));
  } catch (err) {
    if (err instanceof WorkloadError) throw err;
    throw new WorkloadError(path, null, `expected a JSON array of {"conversations": [{"from", "value"}]}, but ${(err as Error).message}.`);
  }
  if (!Array.isArray(data)) throw new WorkloadError(path, null, 'expected a JSON array of conversations.');
  const requests: RequestSpec[] = [];
  for (let i = 0; i < data.length && requests.length < count; i++) {
    const turns = (data[i] as { conversations?: unknown })?.conversations;
    if (!Array.isArray(turns)) throw new WorkloadError(path, `[${i}]`, 'expected an object with a "conversations" array.');
    const valid = turns.every((t) => typeof t === 'object' && t !== null && typeof (t as { value?: unknown }).value === 'string');
    if (!valid) throw new WorkloadError(path, `[${i}].conversations`, 'expected turns of {"from": string, "value": string}.');
    if (turns.length < 2) continue;
    const prompt = (turns[0] as { value: string }).value;
    const inputIds = encode(prompt);
    const outputTokens = encode((turns[1] as { value: string }).value).length;
    if (inputIds.length === 0 || outputTokens === 0) continue;
    requests.push({ id: `sharegpt-${i}`, prompt, inputIds, inputTokens: inputIds.length, outputTokens });
  }
  return { name: `sharegpt ${path}`, requests };
}

/** Mooncake-style JSONL: one {"timestamp" (ms), "input_length", "output_length"} per line. */
export function mooncakeWorkload(path: string, count: number): Workload {
  const lines = read(path).split('\n');
  const requests: RequestSpec[] = [];
  let first: number | null = null;
  for (let i = 0; i < lines.length && requests.length < count; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new WorkloadError(path, String(i + 1), `expected one JSON object per line, but ${(err as Error).message}.`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new WorkloadError(path, String(i + 1), 'expected one JSON object per line.');
    const fail = failAt(path, String(i + 1));
    const timestamp = bounded(rec.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER, fail);
    const input = bounded(rec.input_length, 'input_length', 0, FILE_LIMITS.tokens, fail, true);
    const output = bounded(rec.output_length, 'output_length', 0, FILE_LIMITS.tokens, fail, true);
    first ??= timestamp;
    requests.push({ id: `mooncake-${i + 1}`, inputTokens: Math.max(1, input), outputTokens: Math.max(1, output), arrivalMs: arrivalOffset(timestamp - first, 'timestamp', fail) });
  }
  return { name: `mooncake ${path}`, requests };
}

/** The workload an sgl trace file captured: what replay and bench re-issue. */
export function traceWorkload(path: string, count: number): Workload {
  const trace = readTraceFile(path);
  if (trace.workloads.length === 0) throw new WorkloadError(path, null, 'holds no workload records; capture one with --trace-file at trace level 1 or more.');
  const first = trace.workloads.reduce((min, w) => Math.min(min, w.arrivalMs), Infinity);
  const requests = [...trace.workloads]
    .sort((a, b) => a.arrivalMs - b.arrivalMs)
    .slice(0, count)
    .map((w): RequestSpec => ({
      id: usableRid(w.rid),
      ...(w.inputIds ? { inputIds: w.inputIds } : {}),
      inputTokens: w.inputTokens,
      outputTokens: Math.max(1, w.outputTokens),
      arrivalMs: w.arrivalMs - first,
      sampling: { temperature: w.sampling.temperature, topP: w.sampling.topP, topK: w.sampling.topK, seed: w.sampling.seed },
    }));
  return { name: `trace ${path}${trace.truncated ? ' (cut short)' : ''}`, requests };
}

const failAt = (path: string, where: string): Fail => (message) => {
  throw new WorkloadError(path, where, message);
};

/** An arrival's offset from the workload's first request, within FILE_LIMITS.offsetMs. */
function arrivalOffset(ms: number, field: string, fail: Fail): number {
  if (Math.abs(ms) > FILE_LIMITS.offsetMs) fail(`expected "${field}" within a year (${FILE_LIMITS.offsetMs} ms) of the first request's, got ${ms} ms after it.`);
  return ms;
}

function csvRows(path: string, needed: readonly string[]): { header: string[]; rows: string[][]; col: (name: string) => number } {
  const lines = read(path).split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  for (const n of needed) if (!header.includes(n)) throw new WorkloadError(path, '1', `expected a CSV header with ${needed.join(', ')}; found ${header.join(', ')}.`);
  return { header, rows: lines.slice(1).map((l) => l.split(',')), col: (name) => header.indexOf(name) };
}

function lengthsFromCsv(path: string, count: number, cols: { time: string; input: string; output: string }, toMs: (raw: string) => number, prefix: string): Workload {
  const { rows, col } = csvRows(path, [cols.time, cols.input, cols.output]);
  const requests: RequestSpec[] = [];
  let first: number | null = null;
  for (let i = 0; i < rows.length && requests.length < count; i++) {
    const r = rows[i];
    const fail = failAt(path, String(i + 2));
    const number = (raw: string | undefined): number => (raw === undefined || raw.trim() === '' ? NaN : Number(raw));
    const t = bounded(toMs(r[col(cols.time)] ?? ''), cols.time, 0, Number.MAX_SAFE_INTEGER, fail);
    const input = bounded(number(r[col(cols.input)]), cols.input, 0, FILE_LIMITS.tokens, fail, true);
    const output = bounded(number(r[col(cols.output)]), cols.output, 0, FILE_LIMITS.tokens, fail, true);
    first ??= t;
    requests.push({ id: `${prefix}-${i + 2}`, inputTokens: Math.max(1, input), outputTokens: Math.max(1, output), arrivalMs: arrivalOffset(t - first, cols.time, fail) });
  }
  return { name: `${prefix} ${path}`, requests };
}

/** Azure LLM inference trace CSV: TIMESTAMP (date and time), ContextTokens, GeneratedTokens. */
export function azureWorkload(path: string, count: number): Workload {
  const toMs = (raw: string): number => {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?/.exec(raw.trim());
    return m ? Date.parse(`${m[1]}T${m[2]}Z`) + Number(`0${m[3] ?? ''}`) * 1000 : NaN;
  };
  return lengthsFromCsv(path, count, { time: 'TIMESTAMP', input: 'ContextTokens', output: 'GeneratedTokens' }, toMs, 'azure');
}

/** BurstGPT CSV: Timestamp (seconds), Request tokens, Response tokens. */
export function burstGptWorkload(path: string, count: number): Workload {
  return lengthsFromCsv(path, count, { time: 'Timestamp', input: 'Request tokens', output: 'Response tokens' }, (raw) => Number(raw) * 1000, 'burstgpt');
}

export const REPLAY_FORMATS = ['sgl trace (Chrome JSON)', 'Mooncake JSONL', 'Azure LLM inference CSV', 'BurstGPT CSV'] as const;

/** Which workload format a file holds, judged from its content. */
export function detectFormat(path: string): 'trace' | 'mooncake' | 'azure' | 'burstgpt' {
  const head = read(path).slice(0, 4096);
  const firstLine = head.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  if (firstLine.trim().startsWith('[')) return 'trace';
  if (firstLine.trim().startsWith('{') && /"input_length"/.test(firstLine)) return 'mooncake';
  if (/\bTIMESTAMP\b/.test(firstLine) && /ContextTokens/.test(firstLine)) return 'azure';
  if (/\bTimestamp\b/.test(firstLine) && /Request tokens/.test(firstLine)) return 'burstgpt';
  throw new WorkloadError(path, null, `is none of the workload formats sgl reads (tried: ${REPLAY_FORMATS.join(', ')}).`);
}
