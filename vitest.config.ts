import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Unit tests need no services; integration tests (*.it.test.ts) get a real Kafka and Redis from the global setup.
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/**/*.it.test.ts', 'node_modules/**'],
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/**/*.it.test.ts'],
          globalSetup: ['tests/setup/services.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
          // Polls wait on real services and a browser on a shared 2-core machine: 1 s (the default) is too short.
          expect: { poll: { timeout: 15_000, interval: 100 } },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
