import type { FromWorker } from '../../protocol.js';
import type { BatchLayout } from './batch_layout.js';

/** How long an idle turn warms the cache before the loop looks at its messages again (ms). */
const WARM_SLICE_MS = 2;

/**
 * The scheduler loop's idle turns: each makes a slice of the cache's pages
 * resident (BatchLayout.warm); once none remain, or at shutdown, the main
 * thread is told, once (`engine.warm`). A layout with nothing to warm sends
 * nothing: the main thread knows from the layout's name (only slots warm).
 */
export class IdleWarmer {
  private stopped = false;
  private told = false;

  constructor(
    private readonly layout: BatchLayout,
    private readonly send: (msg: FromWorker) => void,
  ) {}

  /** One idle turn; says whether the loop should come round again (after letting its messages in). */
  turn(): boolean {
    if (!this.stopped && this.layout.warm?.(performance.now() + WARM_SLICE_MS)) return true;
    if (!this.told && this.layout.warm) {
      this.told = true;
      this.send({ type: 'warm' });
    }
    return false;
  }

  stop(): void {
    this.stopped = true;
  }
}
