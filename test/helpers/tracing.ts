import type { FinishedRequest } from '../../src/lib/tracing/finished_request.js';
import { EVENTS, STAGES } from '../../src/lib/tracing/stages.js';
import { KIND_EVENT, RECORD } from '../../src/lib/tracing/trace_context.js';

/** Names of the stages and events a request carries into spans. */
export function spanNames(req: FinishedRequest): { stages: Set<string>; events: Set<string> } {
  const stages = new Set<string>();
  const events = new Set<string>();
  for (const records of [req.main, req.worker]) {
    for (let i = 0; i < records.length; i += RECORD) {
      const id = records[i + 1];
      if (records[i] === KIND_EVENT) {
        if (req.spanEvents[id]) events.add(EVENTS[id].name);
      } else if (req.spanStages[id]) stages.add(STAGES[id].name);
    }
  }
  return { stages, events };
}
