/**
 * What SGLang (bench_serving, launch_server) and vLLM (bench serve, serve)
 * call sgl's flags where the names differ: accepted as aliases, named in
 * each flag's help, and tabled in docs/bench.md (a test keeps that table
 * equal to this one). A flag both anchors name as sgl does is not listed.
 */
export const ANCHOR_NAMES: Readonly<Record<string, { sglang?: string; vllm?: string; note?: string }>> = {
  dataset: { sglang: 'dataset-name', vllm: 'dataset-name' },
  'model-path': { sglang: 'model-path', vllm: 'model', note: "bench_serving's --model names the served model; sgl's the local model" },
  url: { sglang: 'base-url', vllm: 'base-url' },
  warmup: { sglang: 'warmup-requests', vllm: 'num-warmups' },
  output: { sglang: 'output-file', note: 'sgl writes one JSON document, not appended JSON lines' },
  'max-running-requests': { sglang: 'max-running-requests', vllm: 'max-num-seqs' },
  'max-prefill-tokens': { sglang: 'max-prefill-tokens', vllm: 'max-num-batched-tokens' },
  'disable-prefix-cache': { sglang: 'disable-radix-cache', vllm: 'no-enable-prefix-caching' },
  'tokenizer-processes': { sglang: 'tokenizer-worker-num' },
};

interface Described {
  description?: string;
  aliases?: string[];
}

/** The flags with their anchors' names as aliases, named in their help. */
export function withAnchorNames<T extends Record<string, Described>>(flags: T): T {
  const out: Record<string, Described> = { ...flags };
  for (const [name, flag] of Object.entries(flags)) {
    const anchors = ANCHOR_NAMES[name];
    if (!anchors) continue;
    const aliases = [...new Set([anchors.sglang, anchors.vllm].filter((a): a is string => a !== undefined && a !== name))];
    if (aliases.length === 0) continue;
    const who = (a: string): string => [anchors.sglang === a ? 'SGLang' : '', anchors.vllm === a ? 'vLLM' : ''].filter(Boolean).join(' and ');
    const also = aliases.map((a) => `--${a} (${who(a)})`).join(', ');
    out[name] = { ...flag, aliases: [...(flag.aliases ?? []), ...aliases], description: `${flag.description ?? ''} Also ${also}.` };
  }
  return out as T;
}
