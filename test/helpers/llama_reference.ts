import type { LlamaConfig, LlamaWeights } from '../../src/lib/engine/generator/llama_weights.js';

/**
 * An independent plain-TypeScript LLaMA forward pass over a whole prompt (no
 * cache), written from the Hugging Face modeling code rather than from the
 * ONNX graph, to check the generated graph against. Returns logits
 * [seq, vocab] for every position.
 */
export function referenceForward(c: LlamaConfig, w: LlamaWeights, ids: readonly number[]): Float64Array[] {
  const H = c.hiddenSize;
  const D = c.headDim;
  const S = ids.length;
  const matvec = (x: Float64Array, m: Float32Array, cols: number): Float64Array => {
    const rows = x.length;
    const out = new Float64Array(cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += x[i] * m[i * cols + j];
    return out;
  };
  const rms = (x: Float64Array, weight: Float32Array): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + c.rmsNormEps);
    return x.map((v, i) => v * inv * weight[i]);
  };
  const rope = (vec: Float64Array, pos: number): Float64Array => {
    const out = new Float64Array(D);
    const half = D / 2;
    for (let i = 0; i < half; i++) {
      const theta = pos / c.ropeTheta ** ((2 * i) / D);
      const cos = Math.cos(theta);
      const sin = Math.sin(theta);
      out[i] = vec[i] * cos - vec[i + half] * sin;
      out[i + half] = vec[i + half] * cos + vec[i] * sin;
    }
    return out;
  };

  let xs = ids.map((id) => Float64Array.from(w.embed.subarray(id * H, (id + 1) * H)));
  for (const lw of w.layers) {
    const normed = xs.map((x) => rms(x, lw.inputNorm));
    const qs = normed.map((x) => matvec(x, lw.q, c.numHeads * D));
    const ks = normed.map((x) => matvec(x, lw.k, c.numKvHeads * D));
    const vs = normed.map((x) => matvec(x, lw.v, c.numKvHeads * D));
    const attnOut = xs.map(() => new Float64Array(c.numHeads * D));
    for (let h = 0; h < c.numHeads; h++) {
      const kvh = Math.floor(h / (c.numHeads / c.numKvHeads));
      for (let t = 0; t < S; t++) {
        const q = rope(qs[t].subarray(h * D, (h + 1) * D), t);
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) {
          const k = rope(ks[u].subarray(kvh * D, (kvh + 1) * D), u);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[d] * k[d];
          scores.push(dot / Math.sqrt(D));
        }
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        for (let u = 0; u <= t; u++) {
          for (let d = 0; d < D; d++) attnOut[t][h * D + d] += (exps[u] / sum) * vs[u][kvh * D + d];
        }
      }
    }
    xs = xs.map((x, t) => {
      const o = matvec(attnOut[t], lw.o, H);
      return x.map((v, i) => v + o[i]);
    });
    xs = xs.map((x) => {
      const n = rms(x, lw.postNorm);
      const gate = matvec(n, lw.gate, c.intermediateSize);
      const up = matvec(n, lw.up, c.intermediateSize);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = matvec(act, lw.down, H);
      return x.map((v, i) => v + down[i]);
    });
  }
  return xs.map((x) => {
    const n = rms(x, w.finalNorm);
    const logits = new Float64Array(c.vocabSize);
    for (let v = 0; v < c.vocabSize; v++) {
      let dot = 0;
      for (let i = 0; i < H; i++) dot += n[i] * w.embed[v * H + i];
      logits[v] = dot;
    }
    return logits;
  });
}
