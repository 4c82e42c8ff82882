import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // e2e suites start real processes (Unbound, nft, service nodes): keep them apart.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
