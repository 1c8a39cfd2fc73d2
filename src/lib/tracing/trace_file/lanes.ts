/** A slice to place on a track: start and end in one time unit. */
export interface Placed {
  start: number;
  end: number;
  lane: number;
}

/**
 * Assigns slices to tracks so that slices on one track nest properly (trace
 * viewers drop slices that partly overlap on one thread). A request's slices
 * take as few tracks as they can; tracks are reused greedily once free.
 */
export class LanePool {
  /** Per track: when its last slice ends. */
  private readonly lastEnd: number[] = [];

  get size(): number {
    return this.lastEnd.length;
  }

  /**
   * Places one request's slices (any order). Returns the number of tracks
   * created, so the caller can name them.
   */
  place(slices: Placed[]): number {
    if (slices.length === 0) return 0;
    const before = this.lastEnd.length;
    const order = [...slices].sort((a, b) => a.start - b.start || b.end - a.end);
    const first = order[0].start;
    const lanes: { id: number; stack: number[] }[] = [];
    for (const s of order) {
      let lane = lanes.find((l) => fits(l.stack, s));
      if (!lane) {
        lane = { id: this.acquire(first, lanes), stack: [] };
        lanes.push(lane);
      }
      lane.stack.push(s.end);
      s.lane = lane.id;
      this.lastEnd[lane.id] = Math.max(this.lastEnd[lane.id], s.end);
    }
    return this.lastEnd.length - before;
  }

  private acquire(from: number, taken: readonly { id: number }[]): number {
    for (let i = 0; i < this.lastEnd.length; i++) {
      if (this.lastEnd[i] <= from && !taken.some((l) => l.id === i)) return i;
    }
    this.lastEnd.push(-Infinity);
    return this.lastEnd.length - 1;
  }
}

/** Whether a slice nests on a track whose open slices end at `stack` (innermost last). */
function fits(stack: number[], s: Placed): boolean {
  while (stack.length && stack[stack.length - 1] <= s.start) stack.pop();
  return stack.length === 0 || stack[stack.length - 1] >= s.end;
}
