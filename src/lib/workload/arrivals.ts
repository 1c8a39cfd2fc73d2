import type { Rng } from '../stats/rng.js';

/** A gamma(shape, 1) sample (Marsaglia and Tsang; boosted for shape < 1). */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/**
 * Arrival offsets (ms) for `count` requests at `rate` per second with gamma
 * inter-arrival times of shape `burstiness` (1: Poisson; lower: burstier),
 * as SGLang's bench_serving draws them. An infinite rate sends all at once.
 */
export function arrivalOffsets(rng: Rng, count: number, rate: number, burstiness: number): number[] {
  const out = new Array<number>(count);
  let t = 0;
  for (let i = 0; i < count; i++) {
    out[i] = t;
    if (Number.isFinite(rate)) t += (gamma(rng, burstiness) / (rate * burstiness)) * 1000;
  }
  return out;
}
