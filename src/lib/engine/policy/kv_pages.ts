/**
 * The prefix cache's storage: pages of PAGE_TOKENS tokens at the end of
 * arrays it may share with the running batch (an arena). Page p of every
 * past tensor is the block [kvHeads, PAGE_TOKENS, headDim] that ends
 * p × pageElems elements before the array's end, so pages fill the arena
 * from its end while the slot cache fills it from its start, and the KV
 * the prefix cache holds is part of the one KV budget instead of memory
 * of its own. Pages are handed out lowest index first (nearest the end);
 * `vacate` moves those in the way of a growing front further back.
 */

/** One past tensor's data: fp32, or fp16 as its raw 16 bits. */
export type KvData = Float32Array | Uint16Array;

/** Tokens a page holds: a prefix of n tokens takes ceil(n / PAGE_TOKENS) pages. */
export const PAGE_TOKENS = 32;

/** Arrays the pages live at the end of, one per past tensor, and how much of their start is not theirs. */
export interface PageArena {
  /** The arrays (allocating them on first use); empty when there is no budget to allocate. */
  arrays(): readonly KvData[];
  /** Elements at the start of each array the pages must keep out of (the running batch's slots). */
  readonly front: number;
}

/** Whatever holds a list of pages (a prefix cache node): a relocation rewrites its entry. */
export interface PageOwner {
  pages: number[];
}

/** The prefix cache's view of the model: how many KV tensors, their head layout, and how to allocate their data. */
export interface KvLayout {
  /** Past tensors per token (2 × layers). */
  tensors: number;
  kvHeads: number;
  headDim: number;
  newData(elements: number): KvData;
  /** Tokens of the arena the cache allocates for itself when it shares none (the KV budget). */
  budget: number;
}

/** An arena of its own: arrays of the budget's tokens, allocated on the first page (pages never used stay non-resident). */
export function ownArena({ tensors, kvHeads, headDim, budget, newData }: KvLayout): PageArena {
  let data: KvData[] = [];
  return {
    front: 0,
    arrays() {
      if (!data.length && budget > 0) data = Array.from({ length: tensors }, () => newData(budget * kvHeads * headDim));
      return data;
    },
  };
}

export class KvPages {
  /** Elements of one page in one tensor. */
  readonly pageElems: number;
  /** Each page's owner, or undefined while free; kept one past the highest page in use. */
  private owners: (PageOwner | undefined)[] = [];
  private usedPages = 0;
  /** No page below this one is free (where `alloc` starts looking). */
  private lowestFree = 0;

  constructor(
    readonly arena: PageArena,
    readonly kvHeads: number,
    readonly headDim: number,
  ) {
    this.pageElems = kvHeads * PAGE_TOKENS * headDim;
  }

  get used(): number {
    return this.usedPages;
  }

  /** Where page p starts in each array. */
  offset(data: KvData, page: number): number {
    return data.length - (page + 1) * this.pageElems;
  }

  /** Pages that fit behind a front of `front` elements. */
  private limit(front: number): number {
    const data = this.arena.arrays();
    return data.length ? Math.max(0, Math.floor((data[0].length - front) / this.pageElems)) : 0;
  }

  /** Elements at the end of each array that hold pages (up to the highest page in use). */
  extent(): number {
    this.trim();
    return this.owners.length * this.pageElems;
  }

  /** Free pages behind the arena's front (pages in use past it, which a placement moves back, are not behind it). */
  available(): number {
    const limit = this.limit(this.arena.front);
    let past = 0;
    for (let p = limit; p < this.owners.length; p++) if (this.owners[p]) past++;
    return Math.max(0, limit - (this.usedPages - past));
  }

  /** `n` free pages behind the front, lowest first, now `owner`'s; null when fewer are free. */
  alloc(owner: PageOwner, n: number): number[] | null {
    if (n === 0) return [];
    const limit = this.limit(this.arena.front);
    const pages: number[] = [];
    for (let p = this.lowestFree; p < limit && pages.length < n; p++) if (!this.owners[p]) pages.push(p);
    if (pages.length < n) return null;
    for (const p of pages) this.owners[p] = owner;
    this.usedPages += n;
    this.lowestFree = pages[n - 1] + 1;
    return pages;
  }

  free(pages: readonly number[]): void {
    for (const p of pages) {
      this.owners[p] = undefined;
      this.lowestFree = Math.min(this.lowestFree, p);
    }
    this.usedPages -= pages.length;
    this.trim();
  }

  private trim(): void {
    let top = this.owners.length;
    while (top > 0 && !this.owners[top - 1]) top--;
    this.owners.length = top;
  }

  /**
   * Copies `count` tokens between a page list (from its token `at`) and row
   * `row` of arrays laid out [rows, kvHeads, length, headDim] (from column
   * `col`): into the pages when `toPages`, out of them otherwise.
   */
  copy(pages: readonly number[], at: number, count: number, rows: readonly KvData[], row: number, length: number, col: number, toPages: boolean): void {
    const data = this.arena.arrays();
    const { headDim, kvHeads } = this;
    for (let i = 0; i < count;) {
      const tok = at + i;
      const inPage = tok % PAGE_TOKENS;
      const n = Math.min(count - i, PAGE_TOKENS - inPage);
      for (let t = 0; t < data.length; t++) {
        const page = this.offset(data[t], pages[Math.floor(tok / PAGE_TOKENS)]) + inPage * headDim;
        for (let h = 0; h < kvHeads; h++) {
          const p = page + h * PAGE_TOKENS * headDim;
          const r = ((row * kvHeads + h) * length + col + i) * headDim;
          if (toPages) move(rows[t], r, data[t], p, n * headDim);
          else move(data[t], p, rows[t], r, n * headDim);
        }
      }
      i += n;
    }
  }

  /** Copies `count` tokens from one page list (from its token `from`) to another (from its token `to`). */
  copyPages(src: readonly number[], from: number, dst: readonly number[], to: number, count: number): void {
    const data = this.arena.arrays();
    const { headDim, kvHeads } = this;
    for (let i = 0; i < count;) {
      const a = (from + i) % PAGE_TOKENS;
      const b = (to + i) % PAGE_TOKENS;
      const n = Math.min(count - i, PAGE_TOKENS - a, PAGE_TOKENS - b);
      for (const d of data) {
        const s = this.offset(d, src[Math.floor((from + i) / PAGE_TOKENS)]) + a * headDim;
        const e = this.offset(d, dst[Math.floor((to + i) / PAGE_TOKENS)]) + b * headDim;
        for (let h = 0; h < kvHeads; h++) move(d, s + h * PAGE_TOKENS * headDim, d, e + h * PAGE_TOKENS * headDim, n * headDim);
      }
      i += n;
    }
  }

  /** Hands `pages` to another owner (a split's new node keeps pages of the old one). */
  transfer(pages: readonly number[], owner: PageOwner): void {
    for (const p of pages) this.owners[p] = owner;
  }

  /**
   * Moves every page inside the first `front` elements further back, into
   * free pages behind it (copying its data, rewriting its owner's entry).
   * False when too few are free: the caller frees some and asks again.
   */
  vacate(front: number): boolean {
    const limit = this.limit(front);
    let to = this.lowestFree;
    for (let p = limit; p < this.owners.length; p++) {
      const owner = this.owners[p];
      if (!owner) continue;
      while (to < limit && this.owners[to]) to++;
      if (to >= limit) return false;
      for (const d of this.arena.arrays()) {
        const from = this.offset(d, p);
        d.copyWithin(this.offset(d, to), from, from + this.pageElems);
      }
      owner.pages[owner.pages.indexOf(p)] = to;
      this.owners[to] = owner;
      this.owners[p] = undefined;
      this.lowestFree = Math.min(this.lowestFree, p);
    }
    this.trim();
    return true;
  }
}

/** Copies n elements; within one array (the slot arena holds both rows and pages) with copyWithin. */
function move(src: KvData, from: number, dst: KvData, to: number, n: number): void {
  if (src === dst) dst.copyWithin(to, from, from + n);
  else (dst as Float32Array).set((src as Float32Array).subarray(from, from + n), to);
}
