import { randomFillSync } from 'node:crypto';

export interface SpanParent {
  traceId: string;
  spanId: string;
  /** W3C trace flags; bit 0 is "sampled". */
  flags: number;
  traceState?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses a W3C `traceparent` header; anything malformed is ignored, as the spec says. */
export function parseTraceparent(header: string | undefined, traceState?: string): SpanParent | null {
  const m = header ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return null;
  return { traceId: m[2], spanId: m[3], flags: parseInt(m[4], 16), ...(traceState ? { traceState } : {}) };
}

export function formatTraceparent(p: { traceId: string; spanId: string; flags?: number }): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags ?? 1).toString(16).padStart(2, '0')}`;
}

/**
 * Random bytes for ids, drawn from the system's generator 4 KiB at a time: a
 * call per id (randomBytes) cost about 6 µs here, which at level 3 is most
 * of building a request's spans (one id per span).
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (used + bytes > pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const start = used;
    used += bytes;
    // W3C: an id of all zeros is invalid (one in 2^64 draws or fewer).
    for (let i = start; i < used; i++) if (pool[i] !== 0) return pool.toString('hex', start, used);
  }
}

export function newTraceId(): string {
  return randomHex(16);
}

export function newSpanId(): string {
  return randomHex(8);
}
