import { Args, Flags } from '@oclif/core';
import { SglCommand } from '../../lib/cli/sgl_command.js';
import type { PresetName } from '../../lib/engine/generator/llama_weights.js';
import { PRESETS, parameterCount } from '../../lib/engine/generator/llama_weights.js';
import type { KvDtype, KvLayoutKind } from '../../lib/engine/generator/llama_graph.js';
import { GENERATOR_VERSION, isGenerated, presetDir } from '../../lib/engine/generator/model_cache.js';

interface GenerateResult {
  preset: PresetName;
  dir: string;
  parameters: number;
  generated: boolean;
}

export default class ModelGenerate extends SglCommand {
  static override summary = 'Generate a LLaMA-architecture model with seeded weights for benchmarks.';
  static override description =
    'Writes a complete Hugging Face / onnx-community model directory (config.json, tokenizer.json with GPT-2 BPE, onnx/model.onnx). ' +
    'The tiny preset is the embedded default under fixtures/; small and base are tens of millions of parameters.';

  static override examples = [
    '<%= config.bin %> model generate small',
    '<%= config.bin %> model generate base --output ./models/base',
    '<%= config.bin %> model generate base --kv-layout gqa --kv-cache-dtype fp16',
  ];

  static override args = {
    preset: Args.string({ options: Object.keys(PRESETS), default: 'small', description: 'Model size.' }),
  };

  static override flags = {
    output: Flags.string({ char: 'o', description: 'Directory to write (default: the sgl cache, $SGL_CACHE_DIR or ~/.cache/sgl).' }),
    seed: Flags.integer({ min: 0, description: 'Weight seed (default: the preset seed).' }),
    force: Flags.boolean({ description: 'Write even if the directory already holds a model.' }),
    'kv-layout': Flags.string({
      options: ['slots', 'dense', 'gqa'],
      default: 'slots',
      description:
        'How the graph meets the KV cache: slots (read in place, only new tokens come out: batches well on the CPU), gqa (GroupQueryAttention updates the cache in place: for GPUs, where it stays on the device) or dense (the Optimum interface, the whole cache in and out every step).',
    }),
    'kv-cache-dtype': Flags.string({
      options: ['fp32', 'fp16'],
      default: 'fp32',
      description:
        'Element type of the KV cache. fp16 halves the bytes a decode step reads and the memory a token holds; it needs --kv-layout gqa (for GPUs). On a CPU fp32 is faster: onnxruntime widens fp16 as it reads it.',
    }),
  };

  async run(): Promise<GenerateResult> {
    const { args, flags } = await this.parse(ModelGenerate);
    const preset = args.preset as PresetName;
    const config = { ...PRESETS[preset], ...(flags.seed === undefined ? {} : { seed: flags.seed }) };
    const layout = flags['kv-layout'] as KvLayoutKind;
    const kvDtype: KvDtype = flags['kv-cache-dtype'] === 'fp16' ? 'float16' : 'float32';
    if (kvDtype === 'float16' && layout !== 'gqa') {
      this.error(`--kv-cache-dtype fp16 needs --kv-layout gqa (GroupQueryAttention runs over an fp16 cache); the ${layout} layout keeps an fp32 cache.`, {
        exit: 2,
      });
    }
    const dir = flags.output ?? presetDir(preset, layout, kvDtype);
    if (isGenerated(dir, GENERATOR_VERSION[layout], kvDtype) && !flags.force) {
      this.say(`${dir} already holds a model; --force writes it again.\n`);
      return { preset, dir, parameters: parameterCount(config), generated: false };
    }
    this.say(`Generating ${preset} (${(parameterCount(config) / 1e6).toFixed(1)}M parameters) into ${dir} ...\n`);
    const { writeLlamaModel } = await import('../../lib/engine/generator/model_writer.js');
    const written = writeLlamaModel(dir, preset, config, layout, kvDtype);
    this.say(`Done: ${(written.onnxBytes / 2 ** 20).toFixed(1)} MiB ONNX graph. Use it with --model-path ${dir}\n`);
    return { preset, dir, parameters: written.parameters, generated: true };
  }
}
