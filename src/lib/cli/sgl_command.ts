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

  /** Writes progress or human output unless --json asked for machine output only. */
  protected say(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text);
  }
}
