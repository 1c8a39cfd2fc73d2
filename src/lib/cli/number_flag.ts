import { Errors, Flags } from '@oclif/core';

interface NumberFlagOptions {
  description: string;
  min?: number;
  max?: number;
  /** Whether the bound `min` itself is excluded (e.g. top-p in (0, 1]). */
  exclusiveMin?: boolean;
  default?: number;
  helpGroup?: string;
  /** Flags this one needs (oclif's dependsOn): a usage error names them when they are missing. */
  dependsOn?: string[];
}

/**
 * A real-valued flag validated in its definition; a bad value is a usage
 * error (exit code 2) like oclif's own integer flags.
 */
export function numberFlag(options: NumberFlagOptions) {
  const { min, max, exclusiveMin } = options;
  const range = `${min === undefined ? '' : `${exclusiveMin ? '>' : '>='} ${min}`}${min !== undefined && max !== undefined ? ' and ' : ''}${max === undefined ? '' : `<= ${max}`}`;
  return Flags.custom<number>({
    description: options.description,
    default: options.default,
    helpGroup: options.helpGroup,
    dependsOn: options.dependsOn,
    parse: async (input) => {
      const n = Number(input);
      const ok = input.trim() !== '' && Number.isFinite(n) && (min === undefined || (exclusiveMin ? n > min : n >= min)) && (max === undefined || n <= max);
      if (!ok) throw new Errors.CLIError(`Expected a number${range ? ` ${range}` : ''} but received: ${input}`, { exit: 2 });
      return n;
    },
  })();
}
