import { randomBytes } from 'node:crypto';

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

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}
