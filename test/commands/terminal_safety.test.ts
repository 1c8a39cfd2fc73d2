import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../src/lib/engine/model_dir.js';
import { capture } from '../helpers/capture.js';
import { runCli } from '../helpers/cli.js';

/** A title-setting OSC sequence, colour codes, a one-byte CSI and a bidi override: all things a terminal acts on. */
const HOSTILE_RID = 'a\u001b]0;pwned\u0007\u001b[31mred\u009b2J\u202eevil';
// Anything a terminal would act on, newlines and tabs aside.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('strings from files never reach the terminal raw', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sgl-terminal-'));
  const file = join(dir, 'hostile.json');
  writeFileSync(
    file,
    capture()
      .replaceAll('"rid":"a"', `"rid":${JSON.stringify(HOSTILE_RID)}`)
      .replaceAll('request a', `request ${JSON.stringify(HOSTILE_RID).slice(1, -1)}`),
  );

  it.each([
    ['trace summary', ['trace', 'summary', file]],
    ['trace show', ['trace', 'show', file, '--slowest', '2']],
    ['replay', ['replay', file, '--model-path', DEFAULT_MODEL_DIR, '--output', join(dir, 'replayed.json')]],
  ])('%s', async (_label, args) => {
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(CONTROL);
    // Replay says which model directory it loaded, and why that one.
    if (args[0] === 'replay') expect(r.stdout).toMatch(/Model .*sgl-llama-tiny \(given with --model-path\)/);
    if (args[1] !== 'summary') return;
    // The id is still recognisable, its control characters shown as escapes.
    expect(r.stdout).toContain('a\\x1b]0;pwned\\x07\\x1b[31mred\\x9b2J\\u202eevil');
  });
});
