import { distribution, tpotMs } from '../stats/distribution.js';
import type { Distribution } from '../stats/distribution.js';
import { Slowest } from '../stats/slowest.js';
import type { Capture } from '../tracing/trace_file/capture.js';
import { endToEnd } from './end_to_end.js';
import type { EndToEnd } from './end_to_end.js';
import { StageSummarizer } from './stage_summary.js';
import type { StageSummary } from './stage_summary.js';

/** What `sgl trace summary` says of a capture. */
export interface CaptureSummary {
  requests: number;
  stages: StageSummary[];
  ttft_ms: Distribution;
  tpot_ms: Distribution;
  e2e_latency_ms: Distribution;
  slowest: { rid: string; e2eMs: number; outputTokens: number }[];
  /** The --trace-keep rules that chose which requests the file holds (absent: it holds every recorded request). */
  keptBy?: string[];
  /** A merged capture: requests a server saw without the client (they count in the stage table, not in the figures above it). */
  serverOnly?: number;
  /** A merged capture: where the client's time went, over the requests joined to their server side, and the slowest of them. */
  endToEnd?: { joined: number; networkMs: Distribution; slowest: EndToEnd[] };
}

/**
 * Summarizes a capture in one pass over its file, keeping numbers per
 * request and nothing else; `joined` holds a merged capture's client/server
 * splits (a few numbers each) for the end-to-end table.
 */
export function summarizeCapture(capture: Capture, slowestN: number): { summary: CaptureSummary; joined: EndToEnd[] } {
  // One pass over the file, keeping numbers per request and nothing else.
  const stages = new StageSummarizer();
  const ttft: number[] = [];
  const tpot: number[] = [];
  const e2e: number[] = [];
  const slowest = new Slowest<CaptureSummary['slowest'][number]>(slowestN);
  // A merged capture: per joined request, its client time split into network/HTTP and the server's stages (a few numbers each).
  const joined: EndToEnd[] = [];
  const slowestJoined = new Slowest<EndToEnd>(slowestN);
  // In a merged capture the headline figures are the client's: requests a server saw without this client (its warm-ups, other clients) are counted apart.
  // (The header is read with the first line, so it is looked at once requests come.)
  const isMerged = (): boolean => capture.reader.header?.merged !== undefined;
  let serverOnly = 0;
  for (const r of capture.requests()) {
    const w = r.workload;
    stages.add(r);
    const split = endToEnd(r);
    if (split) {
      joined.push(split);
      slowestJoined.offer(split.clientE2eMs, () => split);
    }
    if (!r.client && isMerged()) {
      serverOnly++;
      continue;
    }
    if (w.ttftMs !== null) ttft.push(w.ttftMs);
    const t = tpotMs(w);
    if (t !== null) tpot.push(t);
    e2e.push(w.e2eMs);
    slowest.offer(w.e2eMs, () => ({ rid: w.rid, e2eMs: w.e2eMs, outputTokens: w.outputTokens }));
  }
  const merged = isMerged();
  const summary: CaptureSummary = {
    requests: capture.count - serverOnly,
    stages: stages.result(),
    ttft_ms: distribution(ttft),
    tpot_ms: distribution(tpot),
    e2e_latency_ms: distribution(e2e),
    slowest: slowest.items(),
  };
  const keep = capture.reader.header?.trace.keep;
  if (keep?.length) summary.keptBy = keep;
  if (joined.length) summary.endToEnd = { joined: joined.length, networkMs: distribution(joined.map((j) => j.networkMs)), slowest: slowestJoined.items() };
  if (merged) summary.serverOnly = serverOnly;
  return { summary, joined };
}
