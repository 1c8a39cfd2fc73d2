import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { SglError } from './errors.js';

/**
 * Writes generated output piece by piece to a file (created owner-only: it
 * can hold request ids and content) or, for `-`, to stdout, waiting
 * whenever the destination is behind: memory holds one piece at a time,
 * however large the whole.
 */
export async function writeOutput(path: string, pieces: Iterable<string> | AsyncIterable<string>): Promise<void> {
  const out: Writable = path === '-' ? process.stdout : createWriteStream(path, { mode: 0o600 });
  let failed: Error | null = null;
  const onError = (err: Error): void => {
    failed = err;
  };
  out.on('error', onError);
  let done = false;
  try {
    for await (const piece of pieces) {
      if (failed) break;
      if (!out.write(piece)) {
        // Both waits are cancelled once one ends: a long output drains thousands of times, and a listener left per drain piles up.
        const waiting = new AbortController();
        await Promise.race([once(out, 'drain', { signal: waiting.signal }), once(out, 'error', { signal: waiting.signal })]).catch(() => undefined);
        waiting.abort();
      }
    }
    if (path !== '-') await new Promise<void>((resolve) => out.end(() => resolve()));
    else await new Promise<void>((resolve) => out.write('', () => resolve()));
    done = true;
  } finally {
    out.off('error', onError);
    // Output cut short by an error in what it was made from is not left open.
    if (!done && path !== '-') out.destroy();
  }
  if (failed) throw new SglError(`Cannot write ${path === '-' ? 'to stdout' : path}: ${(failed as Error).message}.`);
}
