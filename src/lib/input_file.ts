import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Stats } from 'node:fs';

/**
 * Sane bounds for numbers read from workload and trace files, checked before
 * they size an array, feed arithmetic or set a timer: a one-line file must
 * not be able to exhaust memory, hang a loop or fire a timer at once.
 */
export const FILE_LIMITS = {
  /** Tokens in one request's input or output: far beyond any context sgl can run. */
  tokens: 2 ** 20,
  /** A request's arrival after the workload's start (ms): one year. */
  offsetMs: 365 * 24 * 3600 * 1000,
  /** One request's end-to-end or stage time (ms): one week. */
  durationMs: 7 * 24 * 3600 * 1000,
};

/** How a reader reports a problem: with its own file, line and error type. */
export type Fail = (message: string) => never;

/** A number from a file, within [min, max] (and whole when `integer`); anything else goes to `fail` with the field's name. */
export function bounded(value: unknown, field: string, min: number, max: number, fail: Fail, integer = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!ok) {
    const got = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value)).slice(0, 40);
    fail(`expected "${field}" to be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${got}.`);
  }
  return value as number;
}

const KINDS: [(s: Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isFIFO(), 'a named pipe (FIFO)'],
  [(s) => s.isSocket(), 'a socket'],
  [(s) => s.isCharacterDevice() || s.isBlockDevice(), 'a device'],
];

/** Refuses anything but a regular file, before it is opened: reading a FIFO or a device would block forever or never end. */
function regularFile(path: string): void {
  const stat = statSync(path);
  if (!stat.isFile()) {
    const kind = KINDS.find(([is]) => is(stat))?.[1] ?? 'a special file';
    throw new Error(`it is ${kind}, not a regular file`);
  }
}

/**
 * Reads a small file given on the command line as text (a prompts file).
 * Errors carry only the reason; callers add the file and their own error
 * type. Workload and trace files, which can be any size, are read with
 * `inputChunks` or `inputLines` instead.
 */
export function readInputFile(path: string): string {
  regularFile(path);
  return readFileSync(path, 'utf8');
}

const CHUNK = 1 << 20;
/** Longest line the line reader holds: far beyond any real record, short of what would exhaust memory. */
const MAX_LINE = 64 << 20;

/**
 * A file given on the command line as UTF-8 text in chunks of about 1 MiB,
 * read as they are asked for: a reader that stops early (`--limit`) reads
 * no further, and memory does not grow with the file. Breaking out of the
 * loop closes the file.
 */
export function* inputChunks(path: string): Generator<string> {
  regularFile(path);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const decoder = new StringDecoder('utf8');
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      yield decoder.write(buf.subarray(0, n));
    }
    const rest = decoder.end();
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

/**
 * The lines of a file given on the command line (LF or CRLF; the line ends
 * are not included), streamed as `inputChunks` reads them. The last line is
 * yielded even without a line end.
 */
export function* inputLines(path: string): Generator<string> {
  let carry = '';
  for (const chunk of inputChunks(path)) {
    let from = 0;
    let text = chunk;
    if (carry) {
      text = carry + chunk;
      carry = '';
    }
    for (let nl = text.indexOf('\n', from); nl !== -1; nl = text.indexOf('\n', from)) {
      yield text.charCodeAt(nl - 1) === 13 ? text.slice(from, nl - 1) : text.slice(from, nl);
      from = nl + 1;
    }
    carry = text.slice(from);
    if (carry.length > MAX_LINE) throw new Error(`a line is longer than ${MAX_LINE >> 20} MiB (is it the format it claims to be?)`);
  }
  if (carry) yield carry.endsWith('\r') ? carry.slice(0, -1) : carry;
}

/** The first `bytes` of a file as text: enough to tell its format without reading the rest. */
export function inputHead(path: string, bytes = 4096): string {
  for (const chunk of inputChunks(path)) return chunk.slice(0, bytes);
  return '';
}
