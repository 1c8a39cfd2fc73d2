import { Args, Flags } from '@oclif/core';
import { engineFlags, engineOptions } from '../../lib/cli/engine_flags.js';
import { numberFlag } from '../../lib/cli/number_flag.js';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { GenerationResult } from '../../lib/engine/timed_generation.js';
import { formatGeneration } from '../../lib/report/generation_report.js';

export default class Trace extends SglCommand {
  static override summary = 'Run a prompt in-process and show where the time went.';
  static override examples = [
    '<%= config.bin %> trace "Hello, my name is"',
    '<%= config.bin %> trace "Tell me a story" --chat --max-tokens 64 --temperature 0.8 --seed 7',
    '<%= config.bin %> trace "Hello" --model-path ../shared/models/tiny-random-llama-fp16 --json',
  ];

  static override args = {
    prompt: Args.string({ required: true, description: 'The prompt text.' }),
  };

  static override flags = {
    ...engineFlags,
    'max-tokens': Flags.integer({ min: 1, default: 32, description: 'Most tokens to generate.' }),
    temperature: numberFlag({ min: 0, default: 0, description: 'Sampling temperature; 0 is greedy.' }),
    'top-p': numberFlag({ min: 0, exclusiveMin: true, max: 1, description: 'Nucleus sampling mass (0, 1].' }),
    'top-k': Flags.integer({ min: 0, description: 'Sample from the k most likely tokens (0: off).' }),
    seed: Flags.integer({ min: 0, description: 'Seed; the same seed gives the same tokens.' }),
    stop: Flags.string({ multiple: true, description: 'Stop when this text appears (repeatable).' }),
    'ignore-eos': Flags.boolean({ description: 'Keep generating past the end-of-sequence token.' }),
    chat: Flags.boolean({ description: "Wrap the prompt as a user message with the model's chat template." }),
  };

  async run(): Promise<GenerationResult & { model: string; device: string }> {
    const { args, flags } = await this.parse(Trace);
    const { Engine } = await import('../../lib/engine/engine.js');
    const { timedGeneration } = await import('../../lib/engine/timed_generation.js');
    const engine = await Engine.create(engineOptions(flags));
    try {
      const input = flags.chat ? { messages: [{ role: 'user', content: args.prompt }] } : { prompt: args.prompt };
      const result = await timedGeneration(
        engine,
        {
          ...input,
          sampling: {
            maxTokens: flags['max-tokens'],
            temperature: flags.temperature,
            topP: flags['top-p'],
            topK: flags['top-k'],
            seed: flags.seed,
            stop: flags.stop,
            ignoreEos: flags['ignore-eos'],
          },
        },
        (text) => this.say(text),
      );
      this.say('\n\n' + formatGeneration(result, engine.spec.id, engine.device));
      return { model: engine.spec.id, device: engine.device, ...result };
    } finally {
      await engine.shutdown();
    }
  }
}
