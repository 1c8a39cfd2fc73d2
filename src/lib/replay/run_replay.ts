import { WorkloadError } from '../errors.js';
import { usableRid } from '../request_id.js';
import { loadModelSpec } from '../engine/model_dir.js';
import { workloadTokenizer } from '../target/with_target.js';
import { capturedWorkload } from '../workload/dataset_files.js';
import { WORKLOAD_FILES, detectFormat } from '../workload/formats.js';
import type { Workload } from '../workload/request_spec.js';
import { executeReplay } from './execute_replay.js';
import { fromRecord } from './fidelity.js';
import type { ReplayInput, ReplayOptions, ReplayResult } from './replay_result.js';
import { simulateReplay } from './simulate_replay.js';

export { PROFILE_COMMAND } from './replay_result.js';
export type { ReplayInput, ReplayOptions, ReplayResult, ScheduleLateness } from './replay_result.js';

/** The selected requests with arrivals from the first of them, at `speed`: the schedule a replay keeps. */
export function paced(w: Workload, file: string, speed: number): Workload {
  if (w.requests.length === 0) throw new WorkloadError(file, null, 'has no requests in the selected --time-window / --limit.');
  let first = Infinity;
  for (const r of w.requests) first = Math.min(first, r.arrivalMs ?? 0);
  return { name: w.name, requests: w.requests.map((r) => ({ ...r, arrivalMs: ((r.arrivalMs ?? 0) - first) / speed })) };
}

/** Reads the capture, runs it again (or simulates it), and compares stage timings. */
export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const input = readReplayInput(o);
  return o.simulate ? simulateReplay(o, input) : executeReplay(o, input);
}

/** One pass over the file, stopping (CSV, JSONL) once --limit requests in --time-window are read. */
export function readReplayInput(o: Pick<ReplayOptions, 'file' | 'limit' | 'timeWindow' | 'speed' | 'engine'>): ReplayInput {
  const format = detectFormat(o.file);
  const select = { count: o.limit, window: o.timeWindow };
  // An sgl capture also gives its header and per-request records; any other file, requests only.
  const trace = format === 'trace' ? capturedWorkload(o.file, select) : null;
  const encode = (): ((text: string) => number[]) => workloadTokenizer(loadModelSpec(o.engine.modelPath)).encode;
  const raw = trace ? trace.workload : WORKLOAD_FILES[format].read(o.file, { select, encode });
  const records = trace?.records ?? [];
  const captured = records.map((w) => ({ ...fromRecord(w), id: usableRid(w.rid) }));
  const notes = WORKLOAD_FILES[format].arrivals
    ? []
    : [
        `${o.file} (${WORKLOAD_FILES[format].title}) has no arrival times: every request is sent at once. sgl bench --dataset ${format} sends them at a --request-rate.`,
      ];
  return { format, workload: paced(raw, o.file, o.speed), header: trace?.header ?? null, records, captured, truncated: trace?.truncated ?? false, notes };
}
