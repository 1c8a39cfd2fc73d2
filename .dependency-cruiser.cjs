/**
 * The layering DESIGN.md §1 states, checked by `npm run lint`: commands
 * never reach into each other; the engine knows nothing of HTTP; tracing
 * knows nothing of the engine; computation never imports the printers.
 */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'command-to-command',
      comment: 'Everything two commands share lives in src/lib.',
      severity: 'error',
      from: { path: '^src/commands/([^/]+)' },
      to: { path: '^src/commands/', pathNot: '^src/commands/$1' },
    },
    { name: 'lib-to-commands', severity: 'error', from: { path: '^src/lib' }, to: { path: '^src/commands' } },
    {
      name: 'engine-to-http',
      comment: 'The engine knows nothing of HTTP.',
      severity: 'error',
      from: { path: '^src/lib/engine' },
      to: { path: '^src/lib/(server|bench|replay|report|cli)' },
    },
    {
      name: 'tracing-to-engine',
      comment: 'Tracing knows the stage names it is given, nothing of the engine.',
      severity: 'error',
      from: { path: '^src/lib/tracing' },
      to: { path: '^src/lib/(engine|server|bench|replay|report|load|cli)' },
    },
    {
      name: 'compute-to-report',
      comment: 'Computation returns data; report/ only prints it.',
      severity: 'error',
      from: { path: '^src/lib/(bench|replay|workload|tracing|engine|stats|load)' },
      to: { path: '^src/lib/report' },
    },
    {
      name: 'workload-to-engine',
      comment: 'Workloads are data; they take a tokenizer, not the engine.',
      severity: 'error',
      from: { path: '^src/lib/workload' },
      to: { path: '^src/lib/engine' },
    },
    // The engine's execution contexts (docs/architecture.md §2). The main thread starts the
    // worker by path and talks to it in protocol messages; it may name worker-side types only.
    {
      name: 'main-to-worker-code',
      comment: 'Only the scheduler worker runs worker/, kv/ and onnx/ code; everything else may import their types only.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/lib/engine/(worker|kv|onnx)/' },
      to: { path: '^src/lib/engine/(worker|kv|onnx)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'policy-is-pure',
      comment: 'Admission, reservation and the prefix cache are plain rules the worker and the simulator both run: no onnxruntime, no tracing, no threads.',
      severity: 'error',
      from: { path: '^src/lib/engine/policy/' },
      to: { path: '^src/lib/(?!engine/policy/|protocol\\.ts$|stats/)' },
    },
    {
      name: 'tokenizer-process-stays-light',
      comment: 'The tokenizer processes load tokenizers, not the engine.',
      severity: 'error',
      from: { path: '^src/lib/engine/tokenizer/' },
      to: { path: '^src/lib/engine/(?!tokenizer/|model_dir\\.ts$)' },
    },
    {
      name: 'generator-offline',
      comment: 'The model generator writes files; it never runs them.',
      severity: 'error',
      from: { path: '^src/lib/engine/generator/' },
      to: { path: '^src/lib/engine/(worker|kv|onnx|policy|tokenizer)/' },
    },
    {
      name: 'recording-to-analysis',
      comment: 'tracing/ records and exports; analysis/ reads what it recorded, never the other way.',
      severity: 'error',
      from: { path: '^src/lib/tracing/' },
      to: { path: '^src/lib/analysis/' },
    },
    {
      name: 'heavy-modules-lazily',
      comment:
        'onnxruntime-node (about 150 ms) and the OpenTelemetry SDK and exporters (sdk-node alone 0.9 s) load through import() on the paths that need them; elsewhere only their types.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: 'node_modules/(onnxruntime-node|@opentelemetry/(?!api/))', dependencyTypesNot: ['type-only', 'dynamic-import'] },
    },
    { name: 'stats-is-a-leaf', severity: 'error', from: { path: '^src/lib/stats' }, to: { path: '^src/lib/(?!stats)' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Resolve imports into node_modules far enough to name the package (heavy-modules-lazily).
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
