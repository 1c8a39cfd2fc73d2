/**
 * The prefix cache (SGLang's RadixAttention): a radix tree from token-id
 * prefixes to their KV. A prompt that shares a prefix with one seen before
 * gets that prefix's KV copied into its batch row (or slot) and prefills
 * only the rest; a row holds its prefix (a reference count) only from the
 * match until that copy. The cache and the running batch share one KV
 * budget: what no request holds is evicted, least recently used first,
 * when the batch or a new prefix needs the room. The KV lives in pages
 * (KvPages), on the slot layout at the end of the slot cache's own arrays:
 * the budget's memory, not memory beside it.
 */
import { KvPages, PAGE_TOKENS, ownArena } from './kv_pages.js';
import type { KvData, KvLayout, PageArena } from './kv_pages.js';

export type { KvData, KvLayout } from './kv_pages.js';

interface Node {
  /** Token ids on the edge into this node. */
  tokens: number[];
  /** Their KV: token i in page pages[i / PAGE_TOKENS]. */
  pages: number[];
  children: Map<number, Node>;
  parent: Node | null;
  /** Requests between their match and the copy of this node's KV into their batch row. */
  refs: number;
  lastUsed: number;
}

function newNode(tokens: number[], parent: Node | null, lastUsed: number): Node {
  return { tokens, pages: [], children: new Map(), parent, refs: 0, lastUsed };
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
  private readonly root = newNode([], null, 0);
  /** Tokens held. */
  private held = 0;
  /** Tokens held by nodes some request holds (not evictable). */
  private pinnedTokens = 0;
  private clock = 0;
  /** Tokens evicted since the cache was made. */
  evictedTotal = 0;

  private pages: KvPages;

  /** Keeps its pages in arrays of its own, allocated on the first insert, until given an arena to share (`useArena`). */
  constructor(private readonly layout: KvLayout) {
    this.pages = new KvPages(ownArena(layout), layout.kvHeads, layout.headDim);
  }

  /** Keeps its pages at the end of `arena`'s arrays (the slot cache's) instead: only while it holds none. */
  useArena(arena: PageArena): void {
    if (this.pages.used) throw new Error('internal error: the prefix cache changes arena only while empty');
    this.pages = new KvPages(arena, this.layout.kvHeads, this.layout.headDim);
  }

  /** Moves pages out of the arena's first `front` elements, evicting the least recently used while behind is full; false when what requests hold cannot move. */
  vacate(front: number): boolean {
    while (!this.pages.vacate(front)) if (this.evict(1) === 0) return false;
    return true;
  }

  /** Elements at the end of each arena array that pages take up. */
  get extent(): number {
    return this.pages.extent();
  }

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
    let col = end - count;
    let left = count;
    for (const node of m.nodes) {
      if (left <= 0) break;
      const take = Math.min(left, node.tokens.length);
      this.pages.copy(node.pages, 0, take, dst, row, length, col, false);
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
        const head = this.split(child, k);
        if (!head) return { inserted: 0, evicted: 0 };
        node = head;
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
    // Pages can run out before the room does: small prefixes leave pages part empty, the slots' front takes its share.
    const evicted = this.evict(this.held + add - room, Math.ceil(add / PAGE_TOKENS));
    this.release(m);
    add = Math.min(add, room - this.held, this.pages.available() * PAGE_TOKENS);
    if (add <= 0) return { inserted: 0, evicted };
    const leaf = newNode(ids.slice(pos, pos + add), node, stamp);
    leaf.pages = this.pages.alloc(leaf, Math.ceil(add / PAGE_TOKENS))!;
    this.pages.copy(leaf.pages, 0, add, src, row, length, start + pos, true);
    node.children.set(leaf.tokens[0], leaf);
    this.held += add;
    return { inserted: add, evicted };
  }

  /** Frees at least `tokens` tokens, and until `pages` pages are free, if it can, least recently used leaves first; returns the tokens freed. */
  evict(tokens: number, pages = 0): number {
    const short = (freed: number): boolean => freed < tokens || (pages > 0 && this.pages.available() < pages);
    if (!short(0)) return 0;
    const queue: Node[] = [];
    const visit = (n: Node): void => {
      for (const c of n.children.values()) {
        if (c.children.size === 0) queue.push(c);
        else visit(c);
      }
    };
    visit(this.root);
    let freed = 0;
    queue.sort((a, b) => a.lastUsed - b.lastUsed);
    for (let i = 0; i < queue.length && short(freed); i++) {
      const leaf = queue[i];
      if (leaf.refs > 0 || leaf.children.size > 0) continue;
      const parent = leaf.parent!;
      parent.children.delete(leaf.tokens[0]);
      this.pages.free(leaf.pages);
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

  /**
   * Splits `node`'s edge after `k` tokens; returns the new node that holds
   * the first `k` (in the node's first pages), or null when no page is free
   * for the rest (which moves to fresh pages unless `k` ends a page).
   */
  private split(node: Node, k: number): Node | null {
    // A held match names all this node's tokens (the worker inserts only once its prefill's matches are released).
    if (node.refs > 0) throw new Error('internal error: a prefix held by a request cannot be split');
    const len = node.tokens.length;
    const keep = Math.ceil(k / PAGE_TOKENS);
    let rest = node.pages.slice(keep);
    if (k % PAGE_TOKENS) {
      const moved = this.pages.alloc(node, Math.ceil((len - k) / PAGE_TOKENS));
      if (!moved) return null;
      this.pages.copyPages(node.pages, k, moved, 0, len - k);
      this.pages.free(rest);
      rest = moved;
    }
    const head = newNode(node.tokens.slice(0, k), node.parent, node.lastUsed);
    head.pages = node.pages.slice(0, keep);
    this.pages.transfer(head.pages, head);
    node.parent!.children.set(head.tokens[0], head);
    node.pages = rest;
    node.tokens = node.tokens.slice(k);
    node.parent = head;
    head.children.set(node.tokens[0], node);
    return head;
  }
}
