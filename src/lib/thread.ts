import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on a module next to the caller: `name` without its
 * extension, resolved against the caller's `import.meta.url`. Built `.js`
 * runs as it is; `.ts` sources (tests, bin/dev.js) are loaded through tsx,
 * registered inside the worker because Node 20 does not pass loader hooks to
 * worker threads.
 */
export function startThread(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const source = new URL(`./${name}.ts`, callerUrl).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
