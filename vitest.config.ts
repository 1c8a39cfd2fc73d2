import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Engine tests start onnxruntime worker threads; two cores run them best one file at a time.
    fileParallelism: false,
  },
});
