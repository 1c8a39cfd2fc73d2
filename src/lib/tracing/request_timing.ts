import type { RequestTiming } from '../protocol.js';
import { slices } from './records.js';
import { S, STAGES } from './stages.js';
import { lengthOf, unionOf } from '../stats/intervals.js';

/** Stages a response's timing lists: those up to level 2, the top-level stages of every module that is on. */
const LISTED = Uint8Array.from(STAGES, (s) => (s.level <= 2 ? 1 : 0));

const ms = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * A request's own timing, for its response: its stages up to level 2 on both
 * threads, as offsets from its arrival, and how much of arrival → `end` no
 * stage covers (declared, never hidden). Built from the same records the
 * trace exports, so each listed stage is one of the trace's slices.
 */
export function requestTiming(
  main: Float64Array,
  worker: Float64Array,
  spanStages: Uint8Array,
  start: number,
  end: number,
  firstToken: number | null,
  cachedTokens: number,
  traceparent: string,
): RequestTiming {
  // Slices recorded only for metrics are not the trace's, and not listed.
  const visible = spanStages.map((v, id) => v & LISTED[id]);
  const listed = [
    ...slices(main, visible).map((s) => ({ s, thread: 'main' as const })),
    ...slices(worker, visible).map((s) => ({ s, thread: 'worker' as const })),
  ].sort((a, b) => a.s.start - b.s.start || b.s.end - a.s.end);
  let queue = 0;
  for (const { s } of listed) if (s.id === S.queue_wait) queue += s.end - s.start;
  const covered = lengthOf(
    unionOf(
      listed.map(({ s }) => [s.start, s.end]),
      start,
      end,
    ),
  );
  const e2e = end - start;
  return {
    e2e_ms: ms(e2e),
    ttft_ms: firstToken === null ? null : ms(firstToken - start),
    queue_ms: ms(queue),
    cached_tokens: cachedTokens,
    unexplained_ms: ms(Math.max(0, e2e - covered)),
    traceparent,
    stages: listed.map(({ s, thread }) => ({ name: STAGES[s.id].name, thread, start_ms: ms(s.start - start), duration_ms: ms(s.end - s.start) })),
  };
}
