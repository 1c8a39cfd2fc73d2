import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { MergeResult } from '../../lib/analysis/merge.js';

export default class TraceMerge extends SglCommand {
  static override summary =
    "Join a client's capture (sgl bench or replay with --url and --trace-file) and its servers' captures into one trace file by trace id.";
  static override description =
    "Captures from one machine are put on its wall clock; a server on another machine is aligned by an offset estimated from the requests both sides saw (each must reach the server after the client sent it and leave before the client's end). Each capture becomes its own process group; each client request gets a flow arrow to its server side. summary, show, view and convert read the merged file; summary then splits each request's client time into network/HTTP and the server's stages.";
  static override examples = [
    '<%= config.bin %> trace merge client.json server-a.json server-b.json -o merged.json',
    '<%= config.bin %> trace summary merged.json',
  ];
  static override strict = false;
  static override args = { files: Args.string({ required: true, description: 'Trace files: at most one client capture, and any number of server captures.' }) };
  static override flags = { output: Flags.string({ char: 'o', required: true, description: 'Where to write the merged file, or - for stdout.' }) };

  async run(): Promise<MergeResult & { output: string }> {
    const { argv, flags } = await this.parse(TraceMerge);
    const files = argv as string[];
    if (files.length < 2) this.error("Give at least two captures to merge: a client's and the servers' it sent to.", { exit: 2 });
    const { mergeCaptures } = await import('../../lib/analysis/merge.js');
    const { writeOutput } = await import('../../lib/output_file.js');
    const result: MergeResult = { captures: [], joined: 0, clientOnly: 0, serverOnly: 0 };
    await writeOutput(
      flags.output,
      mergeCaptures(files, (m) => this.warn(m), result),
    );
    if (!this.jsonEnabled()) {
      const lines = result.captures.map((c) => `  ${c.role.padEnd(6)} ${c.file}  ${c.clock}${c.role === 'server' ? `, ${c.joined} requests joined` : ''}`);
      process.stderr.write(
        `Wrote ${flags.output === '-' ? 'stdout' : flags.output}: ${result.joined} client requests joined to their server side, ${result.clientOnly} without one, ${result.serverOnly} server requests without a client.\n${lines.join('\n')}\n`,
      );
    }
    return { ...result, output: flags.output };
  }
}
