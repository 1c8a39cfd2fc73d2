import { Engine } from '../src/lib/engine/engine.js';
import { createTracing } from '../src/lib/tracing/tracing_setup.js';
import { meanCi } from '../src/lib/stats/distribution.js';
import { presetModel } from './preset.js';
const { dir } = presetModel(process.argv[2] ?? 'small');
const blocks = Number(process.argv[3] ?? 20);
const reqs = Number(process.argv[4] ?? 16);
const PROMPTS = ['Hello, my name is', 'The quick brown fox jumps over', 'In a distant galaxy', 'Once upon a time'];
async function make() { const tracing = await createTracing({ level: 0, modules: ['request'], sampleRate: 1, includeContent: false }); return Engine.create({ modelPath: dir, tracing }); }
const engines = [await make(), await make()];
async function block(engine: Engine, n: number) {
  let tok = 0; let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < n) { const i = next++; for await (const ch of await engine.generate({ prompt: PROMPTS[i % 4] + ` ${i}`, sampling: { maxTokens: 32, temperature: 0, ignoreEos: true } })) tok += ch.tokenIds.length; }
  }));
  const s = (performance.now() - t0) / 1000; const c = process.cpuUsage(cpu0);
  return { tput: tok / s, cpuPerTok: (c.user + c.system) / tok };
}
for (const e of engines) await block(e, 16);
const r: number[] = []; const rc: number[] = []; const t: number[] = [];
for (let b = 0; b < blocks; b++) {
  const order = b % 2 ? [1, 0] : [0, 1];
  const x: Record<number, { tput: number; cpuPerTok: number }> = {};
  for (const k of order) x[k] = await block(engines[k], reqs);
  r.push(x[1].tput / x[0].tput); rc.push(x[1].cpuPerTok / x[0].cpuPerTok); t.push(x[0].tput);
}
const m = meanCi(r), mc = meanCi(rc), mt = meanCi(t);
console.log(`tput ${mt.mean.toFixed(1)}±${mt.ci95.toFixed(1)}; ratio ${(m.mean*100-100).toFixed(2)}% ± ${(m.ci95*100).toFixed(2)} (sd ${(Math.sqrt(r.reduce((a,v)=>a+(v-m.mean)**2,0)/(r.length-1))*100).toFixed(2)}); cpu ratio ${(mc.mean*100-100).toFixed(2)}% ± ${(mc.ci95*100).toFixed(2)}`);
for (const e of engines) await e.shutdown();
