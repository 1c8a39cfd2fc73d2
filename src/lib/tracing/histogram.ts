/** A Prometheus-style cumulative histogram with fixed upper bounds (seconds). */
export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number, times = 1): void {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (value <= b[mid]) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo] += times;
    this.sum += value * times;
    this.count += times;
  }

  /** The q-quantile estimated from the buckets (upper bound of the bucket holding it). */
  quantile(q: number): number {
    const target = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= target && seen > 0) return i < this.bounds.length ? this.bounds[i] : Infinity;
    }
    return NaN;
  }
}

export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}
