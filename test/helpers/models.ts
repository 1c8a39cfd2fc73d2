import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_MODEL_DIR } from '../../src/lib/engine/model_dir.js';

export const TINY_MODEL = DEFAULT_MODEL_DIR;

/** The third-party export kept in ../shared (never copied into the repository). */
export const SHARED_MODEL = resolve(import.meta.dirname, '../../../shared/models/tiny-random-llama-fp16');
export const hasSharedModel = existsSync(SHARED_MODEL);
