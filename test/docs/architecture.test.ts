import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STAGES } from '../../src/lib/tracing/stages.js';

const DOC = resolve(import.meta.dirname, '../../docs/architecture.md');

/** The rows of the document's stage table: `| \`name\` | module | level | thread | metric | nested |`. */
function documentedStages(): string[][] {
  const text = readFileSync(DOC, 'utf8');
  const table = text.slice(text.indexOf('### Stages'));
  return [...table.matchAll(/^\| `(\w+)` \| (\w+) \| (\d) \| (\w+) \| (yes|no) \| (yes|no) \|$/gm)].map((m) => m.slice(1));
}

describe('docs/architecture.md', () => {
  it('lists every stage of the registry, in its order, with its module, level, thread, metric and nesting', () => {
    const registry = STAGES.map((s) => [s.name, s.module, String(s.level), s.thread, s.metric ? 'yes' : 'no', 'nested' in s && s.nested ? 'yes' : 'no']);
    expect(documentedStages()).toEqual(registry);
  });
});
