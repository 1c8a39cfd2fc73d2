import chalk from 'chalk';
import type { GenerationResult } from '../engine/timed_generation.js';

const ms = (v: number): string => `${v.toFixed(1)} ms`;

/** The summary printed under a generation: tokens, finish reason, timings. */
export function formatGeneration(r: GenerationResult, model: string, device: string): string {
  const t = r.timings;
  const rows: [string, string][] = [
    ['model', `${model} (${device})`],
    ['tokens', `${r.usage.promptTokens} prompt, ${r.usage.completionTokens} generated`],
    ['finish', r.finishReason],
    ['time to first token', ms(t.ttftMs)],
    ['decode', t.decodeTokensPerSecond === null ? 'n/a (one token)' : `${t.decodeTokensPerSecond.toFixed(1)} tokens/s`],
    ['end to end', ms(t.e2eMs)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${chalk.dim(k.padEnd(width))}  ${v}`).join('\n') + '\n';
}
