import type { FinishedRequest } from '../finished_request.js';
import type { TraceExporter } from '../tracing.js';

/** Keeps finished requests in memory: for reports printed at the end of a run, and for tests. */
export class MemoryExporter implements TraceExporter {
  readonly requests: FinishedRequest[] = [];

  export(req: FinishedRequest): void {
    this.requests.push(req);
  }

  async flush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
