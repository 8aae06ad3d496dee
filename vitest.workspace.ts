import type { TestProjectInlineConfiguration } from 'vitest/config';

/** The test projects; vite.config.ts imports this list as `test.projects` (vitest 4 ignores the file on its own). */
export const projects: TestProjectInlineConfiguration[] = [
  {
    test: {
      name: 'server',
      environment: 'node',
      include: ['server/**/*.test.ts', 'db/**/*.test.ts', 'shared/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  },
  {
    extends: true,
    test: {
      name: 'client',
      environment: 'happy-dom',
      include: ['client/**/*.test.{ts,tsx}'],
    },
  },
  {
    test: {
      name: 'e2e',
      environment: 'node',
      include: ['e2e/**/*.test.ts'],
      testTimeout: 120_000,
      hookTimeout: 180_000,
      fileParallelism: false,
    },
  },
];

export default projects;
