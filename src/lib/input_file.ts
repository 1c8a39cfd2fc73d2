import { readFileSync, statSync } from 'node:fs';
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

/**
 * Reads a file given on the command line as text. Anything but a regular
 * file is refused before it is opened: reading a FIFO or a device would
 * block forever or never end. Errors carry only the reason; callers add
 * the file and their own error type.
 */
export function readInputFile(path: string): string {
  const stat = statSync(path);
  if (!stat.isFile()) {
    const kind = KINDS.find(([is]) => is(stat))?.[1] ?? 'a special file';
    throw new Error(`it is ${kind}, not a regular file`);
  }
  return readFileSync(path, 'utf8');
}
