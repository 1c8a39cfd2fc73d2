import type { Tensor } from 'onnxruntime-node';
import type { ModelRunner } from '../onnx/model_runner.js';
import type { KvData, PageArena } from '../policy/kv_pages.js';

/** Capacity grows in steps of this many tokens, so that a slightly longer request does not relayout the cache. */
const CAPACITY_STEP = 128;
/** The host's page size (4 KiB on x86-64 and most arm64 Linux; a larger page is touched several times, harmlessly). */
const PAGE_BYTES = 4096;

/**
 * Copies a slot's first `tokens` columns, every head, between arrays laid out
 * [slots, kv_heads, capacity, head_dim] (capacities may differ; the arrays may be one).
 */
export function copySlot(
  src: KvData,
  srcSlot: number,
  srcCap: number,
  dst: KvData,
  dstSlot: number,
  dstCap: number,
  tokens: number,
  kvHeads: number,
  headDim: number,
): void {
  for (let h = 0; h < kvHeads; h++) {
    const from = (srcSlot * kvHeads + h) * srcCap * headDim;
    (dst as Float32Array).set((src as Float32Array).subarray(from, from + tokens * headDim), (dstSlot * kvHeads + h) * dstCap * headDim);
  }
}

/**
 * Moves slots 0..live.length-1 of `d` from a capacity of `from` tokens to
 * `to`, in place, keeping their first live[s] tokens: growing, the last
 * block first (each lands at or after where it was); shrinking, the first.
 */
function restride(d: KvData, from: number, to: number, live: readonly number[], kvHeads: number, headDim: number): void {
  if (from === to) return;
  const blocks = live.length * kvHeads;
  for (let k = 0; k < blocks; k++) {
    const b = to > from ? blocks - 1 - k : k;
    const tokens = live[Math.floor(b / kvHeads)];
    d.copyWithin(b * to * headDim, b * from * headDim, b * from * headDim + tokens * headDim);
  }
}

/**
 * The KV cache of a slot model (ModelRunner.io.slots): one host array per
 * past tensor, [slots, kv_heads, capacity, head_dim], each running request
 * in a slot, right-padded. The model reads the first rows' slots in place
 * and returns only the new tokens' K/V, which are written into the slots
 * here: a step copies no cache. The running rows hold slots 0..n-1, so
 * that any run reads one contiguous view; a leave moves the highest rows
 * into the holes (one row's live tokens each, never the batch).
 *
 * The arrays are allocated once, for the whole KV budget (pages never
 * written stay untouched, not resident). Their shape changes when a
 * request needs more slots or a longer capacity than they have, growing
 * by half again at least, so that a stream of longer requests reshapes
 * them a few times, not at each join; or when they have over three times
 * the capacity the running rows need (a step reads every slot's whole
 * capacity, so a stale long one would slow every step). A new shape moves
 * the running rows within the arrays (restride): no allocation, and the
 * pages they held stay resident.
 *
 * A page's first write is a page fault (about 15 µs a page on this VM: 64
 * MB of cache, 250 ms), so an engine meeting its first burst would pay for
 * every page its rows reach, in the steps of every row. The scheduler loop
 * touches the arrays' pages while it has nothing else to do (`warm`), a
 * slice at a time, so a warmed engine's steps pay none: the arrays are then
 * resident, the whole KV budget.
 *
 * The prefix cache keeps its pages at the arrays' end (PageArena), out of
 * the placed rows' slots (`front`): a placement moves them back (`tail`).
 */
export class SlotCache implements PageArena {
  data: KvData[] = [];
  slots = 0;
  capacity = 0;
  /** Slots the last placement took (running and placed rows): the start of the arrays the pages keep out of. */
  private placed = 0;
  /** The prefix cache's pages at the arrays' end, when it shares them. */
  tail: { vacate(front: number): boolean; readonly extent: number } | null = null;
  /** Feeds over the first rows' slots, by row count, while the arrays stay. */
  private views = new Map<number, Tensor[]>();
  /** How far `warm` has come: the array, and the element, it touches next. */
  private warmArray = 0;
  private warmAt = 0;
  /** The past copies of prefill chunks (`prefix`), reused chunk to chunk: one array per past tensor. */
  private prefixScratch: KvData[] = [];

  constructor(
    private readonly runner: ModelRunner,
    private readonly maxSlots: number,
    /** No row grows past the model's context length. */
    private readonly maxCapacity: number,
    /** The KV budget in tokens: slack (spare slots, rounded capacity) is allocated only within it. */
    private readonly budget: number,
  ) {}

  /**
   * Makes room for `slots` slots of at least `capacity` tokens; the rows in
   * slots 0..live.length-1 keep their first live[s] tokens.
   */
  reserve(slots: number, capacity: number, live: readonly number[]): void {
    const need = Math.min(this.maxCapacity, capacity);
    const oversized = this.capacity > (live.length ? 3 : 1) * Math.ceil(need / CAPACITY_STEP) * CAPACITY_STEP;
    this.placed = slots;
    if (slots <= this.slots && need <= this.capacity && !oversized) {
      if (this.tail && !this.tail.vacate(this.front)) this.reshape(this.slots, this.capacity, live);
      return;
    }
    const grown = need > this.capacity && live.length ? Math.max(need, Math.ceil((this.capacity * 1.5) / CAPACITY_STEP) * CAPACITY_STEP) : need;
    // As many slots as the budget holds at this capacity (pages of slots never written stay untouched, not resident).
    const newSlots = Math.max(slots, Math.min(this.maxSlots, Math.floor(this.budget / need)));
    const rounded = Math.min(this.maxCapacity, Math.ceil(grown / CAPACITY_STEP) * CAPACITY_STEP, Math.floor(this.budget / newSlots));
    this.reshape(newSlots, Math.max(need, rounded), live);
  }

  /** Lays the arrays out as `newSlots` slots of `newCapacity`, keeping the live rows (and the prefix cache's pages). */
  private reshape(newSlots: number, newCapacity: number, live: readonly number[]): void {
    const { kvHeads, headDim, pastNames } = this.runner.io;
    const elements = newSlots * kvHeads * newCapacity * headDim;
    const front = this.placed * kvHeads * newCapacity * headDim;
    if (this.data.length && elements <= this.data[0].length && (!this.tail || this.tail.vacate(front))) {
      // The new shape fits the arrays: the live rows move to their new stride within them. Fresh arrays would cost
      // a page fault for every page the copy writes (about 8 µs a page on this VM: 350-430 ms to grow under 5 rows).
      for (const d of this.data) restride(d, this.capacity, newCapacity, live, kvHeads, headDim);
    } else {
      // Past the budget (or with pages requests hold in the way): arrays with room for the pages behind the rows.
      const tail = this.tail?.extent ?? 0;
      const data = pastNames.map(() => this.runner.newKvData(Math.max(elements, front + tail, this.fullSize())));
      for (let t = 0; t < data.length; t++) {
        for (let s = 0; s < live.length; s++) copySlot(this.data[t], s, this.capacity, data[t], s, newCapacity, live[s], kvHeads, headDim);
        if (tail) data[t].set(this.data[t].subarray(this.data[t].length - tail), data[t].length - tail);
      }
      this.data = data;
      this.warmArray = 0;
      this.warmAt = 0;
    }
    this.slots = newSlots;
    this.capacity = newCapacity;
    this.views.clear();
  }

  /**
   * Elements of an array for the whole budget (or all slots at the context length, when that is less), so that
   * every later shape fits in place; 0 for an unbounded budget.
   */
  private fullSize(): number {
    const tokens = Math.min(this.budget, this.maxSlots * this.maxCapacity);
    return Number.isFinite(tokens) ? tokens * this.runner.io.kvHeads * this.runner.io.headDim : 0;
  }

  /** PageArena: the arrays (allocated for the whole budget on first use). */
  arrays(): readonly KvData[] {
    if (!this.data.length) {
      const size = this.fullSize();
      if (size) this.data = this.runner.io.pastNames.map(() => this.runner.newKvData(size));
    }
    return this.data;
  }

  /** PageArena: elements at the arrays' start that the placed rows' slots take. */
  get front(): number {
    return this.placed * this.runner.io.kvHeads * this.capacity * this.runner.io.headDim;
  }

  /**
   * Touches the arrays' pages until `deadline` (ms, performance.now()); says whether pages remain. It writes
   * zeros: only while no row is live, and never over the prefix cache's pages.
   */
  warm(deadline: number): boolean {
    if (!this.arrays().length) return false;
    while (this.warmArray < this.data.length) {
      const d = this.data[this.warmArray];
      const page = PAGE_BYTES / d.BYTES_PER_ELEMENT;
      const stop = d.length - (this.tail?.extent ?? 0);
      // 64 pages between looks at the clock: about 1 ms when they fault, microseconds when they are resident.
      const end = Math.min(stop, this.warmAt + 64 * page);
      for (let i = this.warmAt; i < end; i += page) d[i] = 0;
      this.warmAt = end;
      if (end === stop) {
        this.warmArray++;
        this.warmAt = 0;
      }
      if (performance.now() >= deadline) break;
    }
    return this.warmArray < this.data.length;
  }

  /** The past feeds of slots first..first+rows-1 (views of the arrays, no copy). */
  view(first: number, rows: number): Tensor[] {
    const key = first * (this.maxSlots + 1) + rows;
    let feeds = this.views.get(key);
    if (!feeds) {
      const size = this.runner.io.kvHeads * this.capacity * this.runner.io.headDim;
      feeds = this.data.map((d) => this.runner.kvTensor(d.subarray(first * size, (first + rows) * size), rows, this.capacity));
      this.views.set(key, feeds);
    }
    return feeds;
  }

  /**
   * Writes a run's new K/V ([rows, kv_heads, seq, head_dim] each) into slots
   * first..: row b's first counts[b] tokens (all `seq` without counts) at column starts[b].
   */
  write(fresh: readonly Tensor[], first: number, rows: number, seq: number, counts: ArrayLike<number> | null, starts: ArrayLike<number>): void {
    const { kvHeads, headDim } = this.runner.io;
    const cap = this.capacity;
    for (let t = 0; t < fresh.length; t++) {
      const src = fresh[t].data as Float32Array;
      const dst = this.data[t] as Float32Array;
      for (let b = 0; b < rows; b++) {
        const n = (counts ? counts[b] : seq) * headDim;
        if (n === 0) continue;
        for (let h = 0; h < kvHeads; h++) {
          const from = (b * kvHeads + h) * seq * headDim;
          dst.set(src.subarray(from, from + n), (((first + b) * kvHeads + h) * cap + starts[b]) * headDim);
        }
      }
    }
  }

  /**
   * The past feeds of a prefill chunk over slots first..first+rows-1: only
   * the first `held` columns of each slot, copied into arrays of that width.
   */
  prefix(first: number, rows: number, held: number): Tensor[] {
    const { kvHeads, headDim } = this.runner.io;
    // At least one column (masked: no row holds it): a zero-sized input crashes the WebGPU provider.
    const columns = Math.max(1, held);
    const size = rows * kvHeads * columns * headDim;
    // Into arrays kept chunk to chunk, not fresh ones per chunk (a 1,000-token row: 1.2 ms against 2.2, bench/slot_outputs.ts).
    if (!this.prefixScratch.length || this.prefixScratch[0].length < size) {
      const grown = Math.max(size, Math.ceil(1.5 * (this.prefixScratch[0]?.length ?? 0)));
      this.prefixScratch = this.data.map(() => this.runner.newKvData(grown));
    }
    return this.data.map((d, t) => {
      const out = this.prefixScratch[t].subarray(0, size);
      for (let r = 0; r < rows; r++) copySlot(d, first + r, this.capacity, out, r, columns, columns, kvHeads, headDim);
      return this.runner.kvTensor(out, rows, columns);
    });
  }

  /** Moves a row's first `length` tokens from one slot to another. */
  move(from: number, to: number, length: number): void {
    const { kvHeads, headDim } = this.runner.io;
    for (const d of this.data) copySlot(d, from, this.capacity, d, to, this.capacity, length, kvHeads, headDim);
  }
}
