import type { FinishedRequest } from '../../src/lib/tracing/finished_request.js';
import { EVENTS, STAGES } from '../../src/lib/tracing/stages.js';
import { events, slices } from '../../src/lib/tracing/records.js';

/** Names of the stages and events a request carries into spans. */
export function spanNames(req: FinishedRequest): { stages: Set<string>; events: Set<string> } {
  const stages = new Set<string>();
  const eventNames = new Set<string>();
  for (const records of [req.main, req.worker]) {
    for (const s of slices(records, req.spanStages)) stages.add(STAGES[s.id].name);
    for (const e of events(records, req.spanEvents)) eventNames.add(EVENTS[e.id].name);
  }
  return { stages, events: eventNames };
}
