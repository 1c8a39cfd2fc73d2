import { Args, Flags } from '@oclif/core';
import { engineFlags, engineOptions } from '../../lib/cli/engine_flags.js';
import { samplingFlags, samplingParams } from '../../lib/cli/sampling_flags.js';
import { withAnchorNames } from '../../lib/cli/anchor_names.js';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import { tracingFlags, tracingSetup } from '../../lib/cli/tracing_flags.js';
import type { GenerationResult } from '../../lib/engine/timed_generation.js';
import { formatGeneration } from '../../lib/report/generation_report.js';
import { formatStageTable } from '../../lib/report/stage_table.js';
import { summarizeStages } from '../../lib/analysis/stage_summary.js';
import type { StageSummary } from '../../lib/analysis/stage_summary.js';
import { printable } from '../../lib/report/terminal_text.js';
import { formatWaterfall } from '../../lib/report/waterfall.js';
import { readPromptFile } from '../../lib/workload/prompt_file.js';

interface TraceResult {
  model: string;
  device: string;
  traceLevel: number;
  requests: (GenerationResult & { stages: Record<string, number> })[];
  stages: StageSummary[];
}

export default class Trace extends SglCommand {
  static override summary = 'Run prompts in-process and show where the time went, stage by stage.';
  static override examples = [
    '<%= config.bin %> trace "Hello, my name is"',
    '<%= config.bin %> trace "Hello" --trace-level 3 --trace-module request,scheduler,engine',
    '<%= config.bin %> trace --prompts prompts.txt --trace-file trace.json',
    '<%= config.bin %> trace "Tell me a story" --chat --max-tokens 64 --temperature 0.8 --seed 7 --json',
    '<%= config.bin %> trace --input-ids 15496,11,616,1438,318 --model-path ./my-model --skip-tokenizer-init',
  ];

  static override args = {
    prompt: Args.string({ description: 'The prompt text (or use --prompts).' }),
  };

  static override flags = withAnchorNames({
    ...engineFlags,
    ...tracingFlags(2),
    prompts: Flags.string({ description: 'A text file with one prompt per line; all run concurrently.' }),
    ...samplingFlags,
    chat: Flags.boolean({ description: "Wrap the prompt as a user message with the model's chat template." }),
  });

  async run(): Promise<TraceResult> {
    const { args, flags } = await this.parse(Trace);
    if ([args.prompt, flags.prompts, flags['input-ids']].filter((x) => x !== undefined).length !== 1)
      this.error('Give one of a PROMPT, --prompts FILE or --input-ids IDS.', { exit: 2 });
    if (flags.chat && flags['input-ids']) this.error('--chat needs text; --input-ids are sent as they are.', { exit: 2 });
    const ids = flags['input-ids'];
    const prompts = flags.prompts ? readPromptFile(flags.prompts) : [args.prompt ?? `[${ids!.join(', ')}]`];
    const { EngineSession } = await import('../../lib/target/engine_session.js');
    const { timedGeneration } = await import('../../lib/engine/timed_generation.js');
    const session = await EngineSession.start(engineOptions(flags), tracingSetup(flags));
    const engine = session.engine;
    const sampling = samplingParams(flags);
    let results: GenerationResult[];
    let traced;
    try {
      const stream = prompts.length === 1 ? (text: string) => this.say(printable(text, true)) : undefined;
      const input = (p: string) => (ids ? { inputIds: ids } : flags.chat ? { messages: [{ role: 'user', content: p }] } : { prompt: p });
      results = await Promise.all(prompts.map((p) => timedGeneration(engine, { ...input(p), sampling }, stream)));
      traced = await session.traced();
    } finally {
      await session.close();
    }
    const finished = new Map(traced.map((r) => [r.rid, r]));
    // One TTFT and one E2E per screen: a traced request's figures are its trace's (arrival to the first and the
    // last token delivered), the same the waterfall, the trace file, summary and the metrics carry.
    results = results.map((r) => {
      const w = finished.get(r.rid)?.workload;
      if (!w || w.ttftMs === null) return r;
      const decodeMs = w.e2eMs - w.ttftMs;
      const n = r.usage.completionTokens;
      return { ...r, timings: { ttftMs: w.ttftMs, e2eMs: w.e2eMs, decodeTokensPerSecond: n > 1 && decodeMs > 0 ? ((n - 1) * 1000) / decodeMs : null } };
    });
    if (prompts.length > 1) results.forEach((r, i) => this.say(`[${i}] ${printable(JSON.stringify(prompts[i]))} →${printable(r.text, true)}\n`));
    this.say('\n\n' + results.map((r) => formatGeneration(r, engine.spec.id, engine.device)).join('\n\n') + '\n');
    const stages = summarizeStages(traced);
    if (traced.length) {
      this.say('\n' + results.flatMap((r) => (finished.has(r.rid) ? [formatWaterfall(finished.get(r.rid)!)] : [])).join('\n\n') + '\n\n');
      this.say(formatStageTable(stages) + '\n');
    }
    if (flags['trace-file']) this.say(`\nTrace written to ${flags['trace-file']} (open it in https://ui.perfetto.dev, or replay it with sgl replay).\n`);
    const requests = results.map((r) => ({ ...r, stages: finished.get(r.rid)?.workload.stages ?? {} }));
    return { model: engine.spec.id, device: engine.device, traceLevel: flags['trace-level'], requests, stages };
  }
}
