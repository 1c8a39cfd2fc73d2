/**
 * The prefix cache (SGLang's RadixAttention, on the dense batch): a radix
 * tree from token-id prefixes to their KV. A prompt that shares a prefix
 * with one seen before gets that prefix's KV copied into its batch row and
 * prefills only the rest. The cache and the running batch share one KV
 * budget: what no request holds is evicted, least recently used first,
 * when the batch or a new prefix needs the room.
 *
 * The dense batch copies a row's cached KV in before its prefill, so a row
 * holds its prefix (a reference count) only from the match until that copy;
 * afterwards the batch has its own.
 */

export type KvData = Float32Array | Uint16Array;

/** The cache's view of the model: how many KV tensors, their head layout, and how to allocate their data. */
export interface KvLayout {
  /** Past tensors per token (2 × layers). */
  tensors: number;
  kvHeads: number;
  headDim: number;
  newData(elements: number): KvData;
}

interface Node {
  /** Token ids on the edge into this node. */
  tokens: number[];
  /** Their KV, one array per past tensor, each [kvHeads, tokens.length, headDim]. */
  kv: KvData[];
  children: Map<number, Node>;
  parent: Node | null;
  /** Requests between their match and the copy of this node's KV into their batch row. */
  refs: number;
  lastUsed: number;
}

/** The longest cached prefix of a prompt: its length in tokens and the nodes it runs through (the last may be used in part). */
export interface PrefixMatch {
  length: number;
  nodes: readonly Node[];
}

export const NO_MATCH: PrefixMatch = { length: 0, nodes: [] };

/** What one insertion or eviction did, for the trace and the metrics. */
export interface CacheChange {
  inserted: number;
  evicted: number;
}

export class PrefixCache {
  private readonly root: Node = { tokens: [], kv: [], children: new Map(), parent: null, refs: 0, lastUsed: 0 };
  /** Tokens held. */
  private held = 0;
  /** Tokens held by nodes some request holds (not evictable). */
  private pinnedTokens = 0;
  private clock = 0;
  /** Tokens evicted since the cache was made. */
  evictedTotal = 0;

  constructor(private readonly layout: KvLayout) {}

  /** Tokens of KV the cache holds. */
  get size(): number {
    return this.held;
  }

  /** Tokens the cache could not give back now (held by requests between their match and their prefill). */
  get pinned(): number {
    return this.pinnedTokens;
  }

  /**
   * The longest cached prefix of `ids`, at most `limit` tokens (a prompt
   * keeps at least one token to prefill: the model must run to give the
   * first token's logits). Marks the path as used.
   */
  match(ids: readonly number[], limit = ids.length - 1): PrefixMatch {
    const nodes: Node[] = [];
    let node = this.root;
    let length = 0;
    const stamp = ++this.clock;
    while (length < limit) {
      const child = node.children.get(ids[length]);
      if (!child) break;
      let k = 0;
      const edge = child.tokens;
      while (k < edge.length && length + k < limit && edge[k] === ids[length + k]) k++;
      if (k === 0) break;
      child.lastUsed = stamp;
      nodes.push(child);
      length += k;
      if (k < edge.length) break;
      node = child;
    }
    return length ? { length, nodes } : NO_MATCH;
  }

  /** Holds a match's nodes so that no eviction takes them before their KV is copied out. */
  acquire(m: PrefixMatch): void {
    for (const n of m.nodes) if (n.refs++ === 0) this.pinnedTokens += n.tokens.length;
  }

  release(m: PrefixMatch): void {
    for (const n of m.nodes) if (--n.refs === 0) this.pinnedTokens -= n.tokens.length;
  }

  /**
   * Copies the first `count` tokens of a match into one row of dense past
   * tensors ([rows, kvHeads, length, headDim] each), ending at column `end`.
   */
  copyOut(m: PrefixMatch, count: number, dst: readonly KvData[], row: number, length: number, end: number): void {
    const { kvHeads, headDim } = this.layout;
    let col = end - count;
    let left = count;
    for (const node of m.nodes) {
      if (left <= 0) break;
      const take = Math.min(left, node.tokens.length);
      const edgeLen = node.tokens.length;
      for (let t = 0; t < dst.length; t++) {
        const src = node.kv[t];
        const out = dst[t];
        for (let h = 0; h < kvHeads; h++) {
          const from = h * edgeLen * headDim;
          out.set(src.subarray(from, from + take * headDim), ((row * kvHeads + h) * length + col) * headDim);
        }
      }
      col += take;
      left -= take;
    }
  }

  /**
   * Inserts `ids` with their KV, read from one row of dense present tensors
   * ([rows, kvHeads, length, headDim]) where token 0 sits at column `start`.
   * The part already cached is only marked used; the new part is copied,
   * after evicting what it needs from what `room` allows the cache to hold.
   * Inserts what fits.
   */
  insert(ids: readonly number[], src: readonly KvData[], row: number, length: number, start: number, room: number): CacheChange {
    const stamp = ++this.clock;
    let node = this.root;
    let pos = 0;
    while (pos < ids.length) {
      const child = node.children.get(ids[pos]);
      if (!child) break;
      let k = 0;
      while (k < child.tokens.length && pos + k < ids.length && child.tokens[k] === ids[pos + k]) k++;
      child.lastUsed = stamp;
      if (k < child.tokens.length) {
        node = this.split(child, k);
        pos += k;
        break;
      }
      node = child;
      pos += k;
    }
    let add = ids.length - pos;
    if (add <= 0) return { inserted: 0, evicted: 0 };
    // Keep this prompt's own path: it is held while room is made.
    const path: Node[] = [];
    for (let n: Node | null = node; n && n !== this.root; n = n.parent) path.push(n);
    const m = { length: pos, nodes: path };
    this.acquire(m);
    const evicted = this.held + add > room ? this.evict(this.held + add - room) : 0;
    this.release(m);
    add = Math.min(add, room - this.held);
    if (add <= 0) return { inserted: 0, evicted };
    const { kvHeads, headDim } = this.layout;
    const kv = src.map((s) => {
      const data = this.layout.newData(kvHeads * add * headDim);
      for (let h = 0; h < kvHeads; h++) {
        const from = ((row * kvHeads + h) * length + start + pos) * headDim;
        data.set(s.subarray(from, from + add * headDim), h * add * headDim);
      }
      return data;
    });
    const leaf: Node = { tokens: ids.slice(pos, pos + add), kv, children: new Map(), parent: node, refs: 0, lastUsed: stamp };
    node.children.set(leaf.tokens[0], leaf);
    this.held += add;
    return { inserted: add, evicted };
  }

  /** Frees at least `tokens` tokens if it can, least recently used leaves first; returns the tokens freed. */
  evict(tokens: number): number {
    if (tokens <= 0) return 0;
    const leaves: Node[] = [];
    const visit = (n: Node): void => {
      for (const c of n.children.values()) {
        if (c.children.size === 0) leaves.push(c);
        else visit(c);
      }
    };
    visit(this.root);
    let freed = 0;
    // A min-heap would do this in n log n; eviction is rare enough (and trees small enough) that sorting wins on clarity.
    leaves.sort((a, b) => a.lastUsed - b.lastUsed);
    const queue = leaves;
    for (let i = 0; i < queue.length && freed < tokens; i++) {
      const leaf = queue[i];
      if (leaf.refs > 0 || leaf.children.size > 0) continue;
      const parent = leaf.parent!;
      parent.children.delete(leaf.tokens[0]);
      freed += leaf.tokens.length;
      this.held -= leaf.tokens.length;
      this.evictedTotal += leaf.tokens.length;
      // Its parent may have become a leaf: it goes into the queue at its own age.
      if (parent !== this.root && parent.children.size === 0) {
        let j = i + 1;
        while (j < queue.length && queue[j].lastUsed <= parent.lastUsed) j++;
        queue.splice(j, 0, parent);
      }
    }
    return freed;
  }

  /** Splits `node`'s edge after `k` tokens; returns the new node that holds the first `k`. */
  private split(node: Node, k: number): Node {
    // A held match names this node for all its tokens; splitting it would make the match copy the wrong ones.
    // The worker inserts only once every match of the prefill is copied out and released.
    if (node.refs > 0) throw new Error('internal error: a prefix held by a request cannot be split');
    const { kvHeads, headDim } = this.layout;
    const len = node.tokens.length;
    const cut = (from: number, to: number): KvData[] =>
      node.kv.map((d) => {
        const out = this.layout.newData(kvHeads * (to - from) * headDim);
        for (let h = 0; h < kvHeads; h++) out.set(d.subarray((h * len + from) * headDim, (h * len + to) * headDim), h * (to - from) * headDim);
        return out;
      });
    const head: Node = { tokens: node.tokens.slice(0, k), kv: cut(0, k), children: new Map(), parent: node.parent, refs: 0, lastUsed: node.lastUsed };
    node.parent!.children.set(head.tokens[0], head);
    node.kv = cut(k, len);
    node.tokens = node.tokens.slice(k);
    node.parent = head;
    head.children.set(node.tokens[0], node);
    return head;
  }
}
