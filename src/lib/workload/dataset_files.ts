import { readFileSync } from 'node:fs';
import { readTraceFile } from '../tracing/exporters/trace_file_reader.js';
import type { RequestSpec, Workload } from './request_spec.js';
import { WorkloadError } from './workload_error.js';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
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
    const { timestamp, input_length: input, output_length: output } = rec as { timestamp?: unknown; input_length?: unknown; output_length?: unknown };
    for (const [name, v] of [['timestamp', timestamp], ['input_length', input], ['output_length', output]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new WorkloadError(path, String(i + 1), `expected "${name}" to be a non-negative number.`);
    }
    first ??= timestamp as number;
    requests.push({ id: `mooncake-${i + 1}`, inputTokens: Math.max(1, input as number), outputTokens: Math.max(1, output as number), arrivalMs: (timestamp as number) - first });
  }
  return { name: `mooncake ${path}`, requests };
}

/** The workload an sgl trace file captured: what replay and bench re-issue. */
export function traceWorkload(path: string, count: number): Workload {
  const trace = readTraceFile(path);
  if (trace.workloads.length === 0) throw new WorkloadError(path, null, 'holds no workload records; capture one with --trace-file at trace level 1 or more.');
  const first = Math.min(...trace.workloads.map((w) => w.arrivalMs));
  const requests = [...trace.workloads]
    .sort((a, b) => a.arrivalMs - b.arrivalMs)
    .slice(0, count)
    .map((w): RequestSpec => ({
      id: w.rid,
      ...(w.inputIds ? { inputIds: w.inputIds } : {}),
      inputTokens: w.inputTokens,
      outputTokens: Math.max(1, w.outputTokens),
      arrivalMs: w.arrivalMs - first,
      sampling: { temperature: w.sampling.temperature, topP: w.sampling.topP, topK: w.sampling.topK, seed: w.sampling.seed },
    }));
  return { name: `trace ${path}${trace.truncated ? ' (cut short)' : ''}`, requests };
}
