import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = resolve(ROOT, 'bin/run.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`npm run build` first) the way a user does, in a child process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  if (!existsSync(resolve(ROOT, 'dist/commands'))) throw new Error('dist/ is missing: run `npm run build` before the CLI tests.');
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production', ...env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      // oclif wraps error messages to the terminal width behind " ›   " margins; unwrap them.
      done({ code, stdout, stderr: stderr.replace(/\s*\n ›\s+/g, ' ').replace(/^ ›\s+/, '') });
    });
  });
}
