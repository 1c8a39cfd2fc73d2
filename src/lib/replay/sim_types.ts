import type { Spread } from '../stats/regression.js';

/** What the simulator knows of a captured request. */
export interface SimRequest {
  id: string;
  arrivalMs: number;
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens the capture's prefix cache supplied: its prefill ran only the rest. */
  cachedTokens?: number;
  ttftMs: number | null;
  e2eMs: number;
  stages: Record<string, number>;
}

/** How far the captured times fall from a fitted line: the 2.5th and 97.5th percentiles of measured ÷ fitted. */
export type FitSpread = Spread;

/**
 * Timing models fitted to a capture: a prefill run against its padded
 * tokens and the attention over them; a decode step against its rows and the cache they attend over;
 * a KV repack against the cache it copies.
 */
export interface TimingModel {
  /**
   * A prefill run of rows padded to its widest prompt: intercept + perToken × rows × widest + perTokenSquared × rows × widest²;
   * with `rowByRow` (the gqa layout, whose rows prefill one at a time), intercept + perToken × Σ tokens + perTokenSquared × Σ tokens².
   * `variation` (here and on decodeStep): quantiles of measured ÷ fitted with a mean of 1; the simulation multiplies
   * each run and step by one drawn at random, as costs varied in the capture. None: fixed costs.
   */
  prefill: { intercept: number; perToken: number; perTokenSquared: number; spread: FitSpread; variation?: readonly number[]; rowByRow?: boolean };
  /** A decode step's period: intercept + perRequest × rows + perRowToken × rows × (padded past + 1). */
  decodeStep: { intercept: number; perRequest: number; perRowToken: number; spread: FitSpread; variation?: readonly number[] };
  /** A repack when rows join or leave: intercept + perRowToken × rows × padded length. Zero when fitted per request (folded into the decode step). */
  repack: { intercept: number; perRowToken: number };
  /**
   * What the decode model was fitted on: `steps`, each decode step and repack of a level-3
   * capture; `requests`, each request's decode loop against its average batch (levels 1-2),
   * which cannot see the cache length.
   */
  basis: 'steps' | 'requests';
  /** Decode steps the step models were fitted on (0 for `requests`). */
  fittedSteps: number;
  /** The largest decode step the fit saw: rows, and rows × cached tokens (0 when fitted per request, which cannot tell). */
  covered: { rows: number; rowTokens: number };
  /** Requests the models were fitted on. */
  fittedOn: number;
  /** Time before the scheduler sees a request, and after its last token (tokenize, hops, detokenize). */
  beforeQueueMs: number;
  afterDecodeMs: number;
}
