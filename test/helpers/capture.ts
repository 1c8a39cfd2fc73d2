export const TRACE_A = '0af7651916cd43dd8448eb211c80319c';
export const TRACE_B = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A capture written by hand: two requests with known stage times (µs in the file, ms in reports). */
export function capture(decodeScale = 1): string {
  const req = (rid: string, traceId: string, spanId: string, t0: number, tokenizeUs: number, decodeUs: number, e2eUs: number) => [
    { name: `request ${rid}`, cat: 'request', ph: 'X', pid: 1, tid: 1, ts: t0, dur: e2eUs, args: { rid, trace_id: traceId, span_id: spanId } },
    { name: 'tokenize', cat: 'request', ph: 'X', pid: 1, tid: 1, ts: t0, dur: tokenizeUs, args: { rid } },
    {
      name: `request ${rid}`,
      cat: 'request',
      ph: 'X',
      pid: 2,
      tid: 1,
      ts: t0 + tokenizeUs,
      dur: decodeUs * decodeScale,
      args: { rid, trace_id: traceId, span_id: spanId },
    },
    { name: 'decode_loop', cat: 'request', ph: 'X', pid: 2, tid: 1, ts: t0 + tokenizeUs, dur: decodeUs * decodeScale, args: { rid } },
    { name: 'first_token', cat: 'request', ph: 'i', s: 't', pid: 2, tid: 1, ts: t0 + tokenizeUs, args: { rid } },
    {
      name: 'sgl.workload',
      cat: 'workload',
      ph: 'i',
      s: 't',
      pid: 1,
      tid: 1,
      ts: t0 + e2eUs,
      args: {
        rid,
        arrivalMs: t0 / 1000,
        inputTokens: 4,
        outputTokens: 5,
        finishReason: 'length',
        ttftMs: tokenizeUs / 1000,
        e2eMs: (tokenizeUs + decodeUs * decodeScale) / 1000,
        sampling: { maxTokens: 5, temperature: 0, topP: 1, topK: 0, seed: 1, ignoreEos: true, stop: [] },
        stages: { tokenize: tokenizeUs / 1000, decode_loop: (decodeUs * decodeScale) / 1000 },
      },
    },
  ];
  const events = [
    {
      name: 'sgl.header',
      ph: 'i',
      s: 'g',
      pid: 0,
      tid: 0,
      ts: 0,
      args: {
        tool: 'sgl',
        version: '0.1.0',
        startedAt: 0,
        model: { id: 'm', dir: '/m' },
        device: 'cpu',
        engine: {},
        trace: { level: 2, modules: ['request'], sampleRate: 1, includeContent: false },
      },
    },
    ...req('a', TRACE_A, 'b7ad6b7169203331', 1000, 1000, 9000, 10000),
    ...req('b', TRACE_B, '00f067aa0ba902b7', 5000, 3000, 27000, 30000),
  ];
  return `[\n${events.map((e) => JSON.stringify(e)).join('\n,')}\n]\n`;
}
