import { Errors, Flags } from '@oclif/core';

/** `--time-window FROM:TO` in seconds of the capture, as [from, to) ms. */
export const timeWindowFlag = Flags.custom<[number, number]>({
  description: 'Replay only requests that arrived in FROM:TO seconds of the capture.',
  parse: async (v) => {
    const [a, b] = v.split(':').map(Number);
    if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a)
      throw new Errors.CLIError(`--time-window takes FROM:TO in seconds with FROM < TO, got ${v}`, { exit: 2 });
    return [a * 1000, b * 1000];
  },
})();

/** `--tolerance 10%` or `0.1`, as a fraction. */
export const toleranceFlag = Flags.custom<number>({
  description: "Exit 1 when a stage's p50 drifts further than this (e.g. 10%) and further than --tolerance-floor.",
  parse: async (v) => {
    const n = v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Errors.CLIError(`--tolerance takes a percentage such as 10% or a fraction such as 0.1, got ${v}`, { exit: 2 });
    return n;
  },
})();
