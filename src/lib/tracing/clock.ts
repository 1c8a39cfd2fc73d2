/**
 * One time base for every thread. A worker's `performance.now()` counts from
 * the worker's own start, so the worker shifts its readings onto the main
 * thread's origin; every timestamp in sgl is milliseconds since the main
 * thread's `performance.timeOrigin`.
 */
let offset = 0;

/** Called once in a worker with the main thread's `performance.timeOrigin`. */
export function alignClock(mainTimeOrigin: number): void {
  offset = performance.timeOrigin - mainTimeOrigin;
}

export function now(): number {
  return performance.now() + offset;
}

/** Wall-clock epoch milliseconds of a timestamp from `now()`. */
export function toEpochMs(t: number): number {
  return performance.timeOrigin - offset + t;
}
