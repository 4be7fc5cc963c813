import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: ['test/unit/pipeline-*.test.ts'],
          // Unit tests first (fast feedback), then the end-to-end ones with their own worker limit.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          // The pipeline against a fake server: the files share one module graph (the whole
          // pipeline), so they share their workers' imports instead of loading it once per file.
          name: 'pipeline',
          include: ['test/unit/pipeline-*.test.ts'],
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'e2e',
          sequence: { groupOrder: 1 },
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Test files share a small pool of real hosts; two workers fit two cores.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
