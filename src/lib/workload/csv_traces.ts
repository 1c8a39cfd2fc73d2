import { FILE_LIMITS, bounded } from '../input_file.js';
import { WorkloadError } from '../errors.js';
import { arrivalOffset, failAt, inWindow, lines, selection } from './dataset_files.js';
import type { Selection } from './dataset_files.js';
import type { RequestSpec, Workload } from './request_spec.js';

/** A CSV of request lengths and times, read row by row until the selection is complete. */
function lengthsFromCsv(
  path: string,
  select: Selection | number,
  cols: { time: string; input: string; output: string },
  toMs: (raw: string) => number,
  prefix: string,
): Workload {
  const s = selection(select);
  const requests: RequestSpec[] = [];
  let first: number | null = null;
  let n = 0;
  let index: { time: number; input: number; output: number } | null = null;
  const number = (raw: string | undefined): number => (raw === undefined || raw.trim() === '' ? NaN : Number(raw));
  for (const line of lines(path)) {
    n++;
    if (requests.length >= s.count) break;
    if (line.trim() === '') continue;
    const r = line.split(',');
    if (!index) {
      const header = r.map((h) => h.trim());
      for (const c of [cols.time, cols.input, cols.output]) {
        if (!header.includes(c))
          throw new WorkloadError(path, String(n), `expected a CSV header with ${cols.time}, ${cols.input}, ${cols.output}; found ${header.join(', ')}.`);
      }
      index = { time: header.indexOf(cols.time), input: header.indexOf(cols.input), output: header.indexOf(cols.output) };
      continue;
    }
    const fail = failAt(path, String(n));
    const t = bounded(toMs(r[index.time] ?? ''), cols.time, 0, Number.MAX_SAFE_INTEGER, fail);
    const input = bounded(number(r[index.input]), cols.input, 0, FILE_LIMITS.tokens, fail, true);
    const output = bounded(number(r[index.output]), cols.output, 0, FILE_LIMITS.tokens, fail, true);
    first ??= t;
    const arrivalMs = arrivalOffset(t - first, cols.time, fail);
    if (inWindow(s, arrivalMs)) requests.push({ id: `${prefix}-${n}`, inputTokens: input, outputTokens: output, arrivalMs });
  }
  if (!index) throw new WorkloadError(path, '1', `expected a CSV header with ${cols.time}, ${cols.input}, ${cols.output}; the file is empty.`);
  return { name: `${prefix} ${path}`, requests };
}

/** Azure LLM inference trace CSV: TIMESTAMP (date and time), ContextTokens, GeneratedTokens. */
export function azureWorkload(path: string, select: Selection | number): Workload {
  const toMs = (raw: string): number => {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?/.exec(raw.trim());
    return m ? Date.parse(`${m[1]}T${m[2]}Z`) + Number(`0${m[3] ?? ''}`) * 1000 : NaN;
  };
  return lengthsFromCsv(path, select, { time: 'TIMESTAMP', input: 'ContextTokens', output: 'GeneratedTokens' }, toMs, 'azure');
}

/** BurstGPT CSV: Timestamp (seconds), Request tokens, Response tokens. */
export function burstGptWorkload(path: string, select: Selection | number): Workload {
  return lengthsFromCsv(path, select, { time: 'Timestamp', input: 'Request tokens', output: 'Response tokens' }, (raw) => Number(raw) * 1000, 'burstgpt');
}
