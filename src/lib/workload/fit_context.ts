import { MOONCAKE_BLOCK_TOKENS } from './hash_blocks.js';
import type { RequestSpec } from './request_spec.js';

export const FIT_MODES = ['scale', 'clip', 'skip'] as const;
export type FitMode = (typeof FIT_MODES)[number];

/** What fitting a workload to a model did, for the report's first lines. */
export interface ContextFit {
  mode: FitMode;
  /** Tokens one request may hold, prompt and output together. */
  limit: number;
  /** Where the limit comes from (the model's context, the KV budget). */
  limitSource: string;
  /** scale: the one factor every length was multiplied by (1 when everything fit). */
  factor: number;
  /** The longest request (prompt + output) before fitting. */
  longest: number;
  /** Requests changed (scaled or clipped) or dropped (skip) to fit. */
  changed: number;
  dropped: number;
  /** Rows with zero input or zero output tokens: nothing to send or nothing to generate; always dropped. */
  empty: number;
}

/**
 * Maps each request's input and output lengths into what the model can hold
 * (`limit` tokens, prompt and output together). `scale` multiplies every
 * length by one factor, so the workload keeps the shape of its length
 * distribution (the longest request just fits); `clip` shortens only the
 * requests that do not fit (prompt first, keeping at least one output
 * token); `skip` drops them. Rows with zero input or output tokens are
 * dropped and counted in every mode. Requests that carry token ids or text
 * of their own keep them when they fit, and get none (seeded ids of the new
 * length are made later) when their lengths change.
 */
export function fitToContext(
  requests: readonly RequestSpec[],
  limit: number,
  mode: FitMode,
  limitSource: string,
): { requests: RequestSpec[]; fit: ContextFit } {
  const fit: ContextFit = { mode, limit, limitSource, factor: 1, longest: 0, changed: 0, dropped: 0, empty: 0 };
  const usable: RequestSpec[] = [];
  for (const r of requests) {
    if (r.inputTokens <= 0 || r.outputTokens <= 0) fit.empty++;
    else {
      usable.push(r);
      fit.longest = Math.max(fit.longest, r.inputTokens + r.outputTokens);
    }
  }
  if (fit.longest > limit && mode === 'scale') fit.factor = limit / fit.longest;
  const out: RequestSpec[] = [];
  for (const r of usable) {
    // Under scale every request takes the one factor (that keeps the shape); otherwise only those that do not fit change.
    if (mode === 'scale' ? fit.factor === 1 : r.inputTokens + r.outputTokens <= limit) {
      out.push(r);
      continue;
    }
    if (mode === 'skip') {
      fit.dropped++;
      continue;
    }
    let input: number;
    let output: number;
    if (mode === 'scale') {
      // Floors keep the sum within the limit; at least one token each, which a limit of two or more holds.
      input = Math.max(1, Math.floor(r.inputTokens * fit.factor));
      output = Math.max(1, Math.floor(r.outputTokens * fit.factor));
      if (input + output > limit) input = Math.max(1, limit - output);
    } else {
      output = Math.min(r.outputTokens, limit - 1);
      input = Math.min(r.inputTokens, limit - output);
    }
    fit.changed++;
    // Its own ids or text no longer match its length: seeded ids of the new length are made later.
    const changed: RequestSpec = { ...r, inputTokens: input, outputTokens: output };
    // Blocks shrink with the lengths, so that the trace's shared prefixes stay shared (and stay the same share).
    if (mode === 'scale' && r.hashIds) changed.blockTokens = Math.max(1, Math.round((r.blockTokens ?? MOONCAKE_BLOCK_TOKENS) * fit.factor));
    delete changed.inputIds;
    delete changed.prompt;
    out.push(changed);
  }
  return { requests: out, fit };
}

/** The report's line on what fitting did and why. */
export function describeFit(f: ContextFit): string | null {
  const parts: string[] = [];
  if (f.empty)
    parts.push(
      `${f.empty} ${f.empty === 1 ? 'row' : 'rows'} with zero input or output tokens ${f.empty === 1 ? 'was' : 'were'} skipped (nothing to send or to generate)`,
    );
  if (f.changed || f.dropped) {
    const why = `the longest request holds ${f.longest} tokens and the model takes ${f.limit} (${f.limitSource})`;
    if (f.mode === 'scale')
      parts.push(
        `every input and output length was scaled by ${f.factor.toPrecision(3)} (--fit-context scale: ${why}; the lengths keep their distribution's shape)`,
      );
    else if (f.mode === 'clip') parts.push(`${f.changed} ${f.changed === 1 ? 'request was' : 'requests were'} clipped to fit (--fit-context clip: ${why})`);
    else parts.push(`${f.dropped} ${f.dropped === 1 ? 'request that does not fit was' : 'requests that do not fit were'} skipped (--fit-context skip: ${why})`);
  }
  return parts.length ? `Fitted to the model: ${parts.join('; ')}.` : null;
}
