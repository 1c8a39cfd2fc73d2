import { Command } from '@oclif/core';
import chalk from 'chalk';
import { SglError } from '../errors.js';

/**
 * The base of every sgl command: `--json` (run() returns the data, oclif
 * prints it), and typed errors mapped to a one-line message and exit code
 * (1 for failures, 2 for usage, 130 for an interrupt).
 */
export abstract class SglCommand extends Command {
  static override enableJsonFlag = true;

  public override async init(): Promise<void> {
    await super.init();
    // https://no-color.org: chalk alone does not look at NO_COLOR.
    if (process.env.NO_COLOR) chalk.level = 0;
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof SglError) this.error(err.message, { exit: err.exitCode });
    return super.catch(err);
  }

  /** A progress bar on stderr for runs that take a while: only on a terminal, and never with --json. */
  protected progressBar(): { update: (done: number, total: number) => void; done: () => void } | undefined {
    if (!process.stderr.isTTY || this.jsonEnabled()) return undefined;
    return {
      update: (done, total) => void process.stderr.write(`\r${'█'.repeat(Math.round((30 * done) / total)).padEnd(30, '░')} ${done}/${total}`),
      done: () => void process.stderr.write('\n'),
    };
  }

  /** Writes progress or human output unless --json asked for machine output only. */
  protected say(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text);
  }
}
