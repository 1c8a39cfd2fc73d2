/**
 * The layering DESIGN.md §1 states, checked by `npm run lint`: commands
 * never reach into each other; the engine knows nothing of HTTP; tracing
 * knows nothing of the engine; computation never imports the printers.
 */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'command-to-command', comment: 'Everything two commands share lives in src/lib.', severity: 'error', from: { path: '^src/commands/([^/]+)' }, to: { path: '^src/commands/', pathNot: '^src/commands/$1' } },
    { name: 'lib-to-commands', severity: 'error', from: { path: '^src/lib' }, to: { path: '^src/commands' } },
    { name: 'engine-to-http', comment: 'The engine knows nothing of HTTP.', severity: 'error', from: { path: '^src/lib/engine' }, to: { path: '^src/lib/(server|bench|replay|report|cli)' } },
    { name: 'tracing-to-engine', comment: 'Tracing knows the stage names it is given, nothing of the engine.', severity: 'error', from: { path: '^src/lib/tracing' }, to: { path: '^src/lib/(engine|server|bench|replay|report|load|cli)' } },
    { name: 'compute-to-report', comment: 'Computation returns data; report/ only prints it.', severity: 'error', from: { path: '^src/lib/(bench|replay|workload|tracing|engine|stats|load)' }, to: { path: '^src/lib/report' } },
    { name: 'workload-to-engine', comment: 'Workloads are data; they take a tokenizer, not the engine.', severity: 'error', from: { path: '^src/lib/workload' }, to: { path: '^src/lib/engine' } },
    { name: 'stats-is-a-leaf', severity: 'error', from: { path: '^src/lib/stats' }, to: { path: '^src/lib/(?!stats)' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
