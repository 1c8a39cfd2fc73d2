import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { PresetName } from './llama_weights.js';

/** Where generated presets live: $SGL_CACHE_DIR, else $XDG_CACHE_HOME/sgl, else ~/.cache/sgl. */
export function cacheDir(): string {
  if (process.env.SGL_CACHE_DIR) return process.env.SGL_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sgl');
}

export function presetDir(preset: PresetName): string {
  return join(cacheDir(), 'models', `sgl-llama-${preset}`);
}

/** A directory is complete once config.json is written (the writer writes it last). */
export function isGenerated(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'onnx', 'model.onnx'));
}
