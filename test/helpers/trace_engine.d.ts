// The DevTools trace engine's entry that sets up what it expects of a browser; it ships no types.
declare module '@paulirish/trace_engine/analyze-trace.mjs' {
  export function polyfillDOMRect(): void;
}
