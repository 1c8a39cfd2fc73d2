import { isGenerated, presetDir } from '../src/lib/engine/generator/model_cache.js';
import type { PresetName } from '../src/lib/engine/generator/llama_weights.js';
import { PRESETS } from '../src/lib/engine/generator/llama_weights.js';
import { writeLlamaModel } from '../src/lib/engine/generator/model_writer.js';

/** The directory of a generated preset, generating it into the cache on first use. */
export function presetModel(name: string): { preset: PresetName; dir: string } {
  if (!(name in PRESETS)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got ${name}`);
  const preset = name as PresetName;
  const dir = presetDir(preset);
  if (!isGenerated(dir)) {
    console.log(`Generating the ${preset} preset into ${dir} ...`);
    writeLlamaModel(dir, preset, PRESETS[preset]);
  }
  return { preset, dir };
}
