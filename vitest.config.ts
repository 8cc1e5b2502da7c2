import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Engine tests use both cores; one file at a time keeps the responsiveness test honest and runs predictable.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // The JSON report is what .ci/run reads to print its "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-artifacts/vitest.json' },
  },
});
