/**
 * The `n` items with the largest keys seen in a stream, slowest first, in
 * memory of n: for "the slowest requests" of a capture of any size. Ties
 * keep the earlier item; `make` runs only for items that get in.
 */
export class Slowest<T> {
  private readonly kept: { key: number; item: T }[] = [];

  constructor(private readonly n: number) {}

  offer(key: number, make: () => T): void {
    const kept = this.kept;
    if (this.n === 0 || (kept.length === this.n && key <= kept[kept.length - 1].key)) return;
    let i = kept.length;
    while (i > 0 && kept[i - 1].key < key) i--;
    kept.splice(i, 0, { key, item: make() });
    if (kept.length > this.n) kept.pop();
  }

  items(): T[] {
    return this.kept.map((k) => k.item);
  }
}
