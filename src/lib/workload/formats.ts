import { WorkloadError } from '../errors.js';
import { inputHead } from '../input_file.js';
import { azureWorkload, burstGptWorkload } from './csv_traces.js';
import { mooncakeWorkload, shareGptWorkload, traceWorkload } from './dataset_files.js';
import type { Selection } from './dataset_files.js';
import type { Workload } from './request_spec.js';

/** What reading a workload file may need besides its path. */
export interface ReadContext {
  select: Selection;
  /** The local model's tokenizer: ShareGPT gives text, whose length in tokens is the request's. */
  encode: () => (text: string) => number[];
}

/** A workload file format sgl reads. */
export interface WorkloadFile {
  /** The name in messages and help. */
  title: string;
  /** Whether requests carry arrival times (replay keeps them; without them every request arrives at once). */
  arrivals: boolean;
  /** Whether the first 4 KiB of a file (and its first non-empty line) say it is this format. */
  sniff(head: string, firstLine: string): boolean;
  read(path: string, c: ReadContext): Workload;
}

/**
 * Every workload file format, in the order detection tries them: the one
 * registry that `bench --dataset` and `replay FILE` both read from, as the
 * trace modules are one registry for every command.
 */
export const WORKLOAD_FILES = {
  sharegpt: {
    title: 'ShareGPT JSON',
    arrivals: false,
    sniff: (head, first) => first.startsWith('[') && /"conversations"\s*:/.test(head) && !/"ph"\s*:/.test(head),
    read: (path, c) => shareGptWorkload(path, c.encode(), c.select.count),
  },
  trace: { title: 'sgl trace (Chrome JSON)', arrivals: true, sniff: (_head, first) => first.startsWith('['), read: (path, c) => traceWorkload(path, c.select) },
  mooncake: {
    title: 'Mooncake JSONL',
    arrivals: true,
    sniff: (_head, first) => first.startsWith('{') && /"input_length"/.test(first),
    read: (path, c) => mooncakeWorkload(path, c.select),
  },
  azure: {
    title: 'Azure LLM inference CSV',
    arrivals: true,
    sniff: (_head, first) => /\bTIMESTAMP\b/.test(first) && /ContextTokens/.test(first),
    read: (path, c) => azureWorkload(path, c.select),
  },
  burstgpt: {
    title: 'BurstGPT CSV',
    arrivals: true,
    sniff: (_head, first) => /\bTimestamp\b/.test(first) && /Request tokens/.test(first),
    read: (path, c) => burstGptWorkload(path, c.select),
  },
} as const satisfies Record<string, WorkloadFile>;

export type WorkloadFormat = keyof typeof WORKLOAD_FILES;
export const WORKLOAD_FORMATS = Object.keys(WORKLOAD_FILES) as WorkloadFormat[];

/** Which workload format a file holds, judged from its first 4 KiB. */
export function detectFormat(path: string): WorkloadFormat {
  let head: string;
  try {
    head = inputHead(path);
  } catch (err) {
    throw new WorkloadError(path, null, `cannot read it (${(err as Error).message}).`);
  }
  const firstLine = (head.split(/\r?\n/).find((l) => l.trim() !== '') ?? '').trim();
  const found = WORKLOAD_FORMATS.find((f) => (WORKLOAD_FILES[f] as WorkloadFile).sniff(head, firstLine));
  if (found) return found;
  throw new WorkloadError(path, null, `is none of the workload formats sgl reads (tried: ${WORKLOAD_FORMATS.map((f) => WORKLOAD_FILES[f].title).join(', ')}).`);
}
