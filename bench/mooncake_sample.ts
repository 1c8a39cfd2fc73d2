/**
 * Writes fixtures/mooncake_conversation_synthetic.jsonl: 500 requests in the
 * format of Mooncake's conversation trace (FAST'25 release), made up here
 * because the real one cannot be downloaded on this machine. Conversations
 * of 1 to 6 turns interleave at Poisson arrivals; each turn's prompt holds
 * the conversation so far (its hash_ids extend the previous turn's) plus 1
 * to 4 new 512-token blocks, and some conversations open with one of a few
 * shared system-prompt blocks, as tool and agent traffic does.
 *
 *   npx tsx bench/mooncake_sample.ts && ./bin/run.js replay fixtures/mooncake_conversation_synthetic.jsonl --speed 20
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Rng } from '../src/lib/stats/rng.js';

const rng = new Rng(2025);
const REQUESTS = 500;
let nextBlock = 1000;
const open: { blocks: number[]; turnsLeft: number }[] = [];
const lines: string[] = [];
let t = 0;
while (lines.length < REQUESTS) {
  t += -Math.log(1 - rng.next()) * 400;
  // Half the time a waiting conversation takes its next turn; otherwise a new one starts.
  let conv = open.length && rng.next() < 0.5 ? open[Math.floor(rng.next() * open.length)] : null;
  if (!conv) {
    const system = rng.next() < 0.3 ? [Math.floor(rng.next() * 3)] : [];
    conv = { blocks: system, turnsLeft: 1 + Math.floor(rng.next() * 6) };
    open.push(conv);
  }
  const added = 1 + Math.floor(rng.next() * 4);
  for (let k = 0; k < added; k++) conv.blocks.push(nextBlock++);
  const input = conv.blocks.length * 512 - Math.floor(rng.next() * 400);
  lines.push(JSON.stringify({ timestamp: Math.round(t), input_length: input, output_length: 20 + Math.floor(rng.next() * 180), hash_ids: [...conv.blocks] }));
  if (--conv.turnsLeft === 0) open.splice(open.indexOf(conv), 1);
}
const path = resolve(import.meta.dirname, '../fixtures/mooncake_conversation_synthetic.jsonl');
writeFileSync(path, lines.join('\n') + '\n');
console.log(`Wrote ${lines.length} requests to ${path}`);
