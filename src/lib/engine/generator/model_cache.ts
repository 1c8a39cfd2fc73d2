import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KvDtype, KvLayoutKind } from './llama_graph.js';
import type { PresetName } from './llama_weights.js';

/**
 * What wrote a generated model, by KV layout. 2: the graph returns the logits
 * of the last position only (dense). 3: the slot layout: the cache is read in
 * place and only the new tokens' K/V come out. 4: gqa, the cache updated in
 * place by GroupQueryAttention (for GPUs).
 */
export const GENERATOR_VERSION: Record<KvLayoutKind, number> = { dense: 2, slots: 3, gqa: 4 };

/** Where generated presets live: $SGL_CACHE_DIR, else $XDG_CACHE_HOME/sgl, else ~/.cache/sgl. */
export function cacheDir(): string {
  if (process.env.SGL_CACHE_DIR) return process.env.SGL_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sgl');
}

/**
 * A preset's directory in the cache; the dense (generator 2) and gqa (4)
 * layouts and an fp16 cache have their own, so all can be kept side by side.
 */
export function presetDir(preset: PresetName, layout: KvLayoutKind = 'slots', kvDtype: KvDtype = 'float32'): string {
  const suffix = (layout === 'slots' ? '' : `-${layout}`) + (kvDtype === 'float16' ? '-fp16' : '');
  return join(cacheDir(), 'models', `sgl-llama-${preset}${suffix}`);
}

/**
 * A directory is complete once config.json is written (the writer writes it
 * last); with `generator`, only if that generator version wrote it, with a
 * KV cache of `kvDtype`.
 */
export function isGenerated(dir: string, generator?: number, kvDtype: KvDtype = 'float32'): boolean {
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'onnx', 'model.onnx'))) return false;
  if (generator === undefined) return true;
  try {
    const sgl = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).sgl;
    return sgl?.generator === generator && (sgl.kv_cache_dtype ?? 'float32') === kvDtype;
  } catch {
    return false;
  }
}
