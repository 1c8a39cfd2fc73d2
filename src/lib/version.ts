import { readFileSync } from 'node:fs';

/** sgl's version, from its package.json (one level above src/ and dist/). */
export const SGL_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
