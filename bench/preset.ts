import { GENERATOR_VERSION, isGenerated, presetDir } from '../src/lib/engine/generator/model_cache.js';
import type { PresetName } from '../src/lib/engine/generator/llama_weights.js';
import { PRESETS } from '../src/lib/engine/generator/llama_weights.js';
import { writeLlamaModel } from '../src/lib/engine/generator/model_writer.js';
import type { KvDtype, KvLayoutKind } from '../src/lib/engine/generator/llama_graph.js';

/** The directory of a generated preset, generating it into the cache on first use (and again when an older generator wrote it). */
export function presetModel(name: string, layout: KvLayoutKind = 'slots', kvDtype: KvDtype = 'float32'): { preset: PresetName; dir: string } {
  if (!(name in PRESETS)) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got ${name}`);
  const preset = name as PresetName;
  const dir = presetDir(preset, layout, kvDtype);
  if (!isGenerated(dir, GENERATOR_VERSION[layout], kvDtype)) {
    console.log(`Generating the ${preset} preset (${layout} KV layout, ${kvDtype} KV) into ${dir} ...`);
    writeLlamaModel(dir, preset, PRESETS[preset], layout, kvDtype);
  }
  return { preset, dir };
}
