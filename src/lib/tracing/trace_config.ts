import { EVENTS, MODULE_NAMES, STAGES } from './stages.js';
import type { TraceModule } from './stages.js';

export type TraceLevel = 0 | 1 | 2 | 3;

export interface TraceConfig {
  /** 0 off, 1 the important stages, 2 all but nested ones, 3 everything. */
  level: TraceLevel;
  modules: readonly TraceModule[];
  /** Fraction of requests whose spans are kept; metrics see every request. */
  sampleRate: number;
  /** Whether stage and request metrics are collected. */
  metrics: boolean;
}

export const DEFAULT_TRACE_CONFIG: TraceConfig = { level: 0, modules: ['request'], sampleRate: 1, metrics: false };

/** Bits of a mask entry: where a stage's timestamps go. */
export const TO_SPAN = 1;
export const TO_METRIC = 2;

/** What one request records: a byte per stage and per event. */
export interface TraceMask {
  stages: Uint8Array;
  events: Uint8Array;
}

const masks = new Map<string, TraceMask>();

/**
 * The mask of a request traced at `level` (spans) with metrics on or off.
 * Masks are computed once per combination and shared by every request.
 */
export function traceMask(level: TraceLevel, modules: readonly TraceModule[], metrics: boolean): TraceMask {
  const key = `${level}|${metrics ? 1 : 0}|${modules.join(',')}`;
  let mask = masks.get(key);
  if (!mask) {
    const on = new Set(modules);
    const stages = new Uint8Array(STAGES.length);
    for (const s of STAGES) {
      stages[s.id] = (on.has(s.module) && s.level <= level ? TO_SPAN : 0) | (metrics && s.metric ? TO_METRIC : 0);
    }
    const events = new Uint8Array(EVENTS.length);
    for (const e of EVENTS) events[e.id] = on.has(e.module) && e.level <= level ? TO_SPAN : 0;
    mask = { stages, events };
    masks.set(key, mask);
  }
  return mask;
}

const spanBitCache = new WeakMap<Uint8Array, Uint8Array>();

/** The span bit of each entry of a shared mask (what goes to spans), computed once per mask. */
export function spanBits(mask: Uint8Array): Uint8Array {
  let bits = spanBitCache.get(mask);
  if (!bits) {
    bits = mask.map((m) => m & TO_SPAN);
    spanBitCache.set(mask, bits);
  }
  return bits;
}

/** Parses `request,scheduler`; an unknown name throws with the known ones listed. */
export function parseModules(list: string): TraceModule[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(MODULE_NAMES as string[]).includes(n));
  if (unknown.length || names.length === 0) {
    throw new Error(`Unknown trace module ${unknown.length ? unknown.join(', ') : '(none given)'}; known modules: ${MODULE_NAMES.join(', ')}.`);
  }
  return [...new Set(names)] as TraceModule[];
}
