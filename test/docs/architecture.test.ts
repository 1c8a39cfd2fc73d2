import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STAGES } from '../../src/lib/tracing/stages.js';
import { ANCHOR_NAMES } from '../../src/lib/cli/anchor_names.js';

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

const SRC = resolve(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('the size rules of docs/architecture.md §1', () => {
  const lines = (path: string): number => readFileSync(path, 'utf8').split('\n').length - 1;
  it('keeps every source file under 250 lines and every command under 90 (split by concern when one grows past)', () => {
    const over = sources(SRC).flatMap((f) => {
      const limit = relative(SRC, f).startsWith('commands') ? 90 : 250;
      return lines(f) > limit ? [`${relative(SRC, f)}: ${lines(f)} lines (limit ${limit})`] : [];
    });
    expect(over).toEqual([]);
  });
});

describe('docs/bench.md', () => {
  it('tables every anchor name sgl accepts (cli/anchor_names.ts), so the docs cannot drift from the aliases', () => {
    const text = readFileSync(resolve(import.meta.dirname, '../../docs/bench.md'), 'utf8');
    const table = text.slice(text.indexOf('## Flag names from SGLang and vLLM'));
    const flag = (cell: string): string | undefined => /^`--([\w-]+)`$/.exec(cell)?.[1];
    const documented = Object.fromEntries(
      [...table.matchAll(/^\| (`--[\w-]+`) \| (\S+) \| (\S+) \| (.*?) ?\|$/gm)].map((m) => [
        flag(m[1]),
        { sglang: flag(m[2]), vllm: flag(m[3]), note: m[4] || undefined },
      ]),
    );
    const registry = Object.fromEntries(Object.entries(ANCHOR_NAMES).map(([k, a]) => [k, { sglang: a.sglang, vllm: a.vllm, note: a.note }]));
    expect(documented).toEqual(registry);
  });
});
