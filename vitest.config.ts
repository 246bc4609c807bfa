import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests import workspace packages from source, so a test run never sees a stale build.
const alias = {
  '@flotilla/overlay': src('overlay'),
  '@flotilla/network': src('network'),
  '@flotilla/api': src('api'),
  '@flotilla/stack': src('stack'),
  '@flotilla/store': src('store'),
  '@flotilla/events': src('events'),
  '@flotilla/pki': src('pki'),
  '@flotilla/manager': src('manager'),
  '@flotilla/agent': src('agent'),
  '@flotilla/containerd': src('containerd'),
  '@flotilla/testing': src('testing'),
  '@flotilla/test-servers': src('test-servers'),
  '@flotilla/devhosts': src('devhosts'),
  '@flotilla/scheduler': src('scheduler'),
  '@flotilla/orchestrator': src('orchestrator'),
  '@flotilla/registry': src('registry'),
  '@flotilla/ui': src('ui'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: 'reports/vitest.json' },
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**'],
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['packages/*/src/**/*.integration.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
