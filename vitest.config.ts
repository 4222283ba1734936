import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources in tests (their exports give plain Node
  // the compiled dist/); the rest are Vite's server defaults, which setting this list replaces.
  ssr: { resolve: { conditions: ['@latentfarm/source', 'node', 'development|production'] } },
  test: {
    include: ['*/src/**/*.test.ts', '*/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    allowOnly: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests start the CLI from its compiled JavaScript, as users do; this builds it first.
    globalSetup: ['testkit/src/build.ts'],
  },
});
