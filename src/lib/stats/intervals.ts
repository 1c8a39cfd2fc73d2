/** A closed interval [start, end] on one clock. */
export type Interval = [number, number];

/** Sorted, disjoint intervals: the union of `pairs`, clipped to [lo, hi]. */
export function unionOf(pairs: readonly Interval[], lo = -Infinity, hi = Infinity): Interval[] {
  const clipped = pairs.map(([a, b]) => [Math.max(a, lo), Math.min(b, hi)] as Interval).filter(([a, b]) => b > a);
  clipped.sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const [a, b] of clipped) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The total length of disjoint intervals. */
export function lengthOf(disjoint: readonly Interval[]): number {
  let total = 0;
  for (const [a, b] of disjoint) total += b - a;
  return total;
}

/** The length of `pairs` not covered by `taken`, both sorted and disjoint: one sweep, so thousands of intervals stay linear. */
export function uncoveredLength(pairs: readonly Interval[], taken: readonly Interval[]): number {
  let total = 0;
  let j = 0;
  for (const [a, b] of pairs) {
    let len = b - a;
    while (j < taken.length && taken[j][1] <= a) j++;
    for (let k = j; k < taken.length && taken[k][0] < b; k++) len -= Math.min(b, taken[k][1]) - Math.max(a, taken[k][0]);
    total += len;
  }
  return total;
}
