import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run on the TypeScript sources; the end-to-end tests spawn the built CLI.
    alias: {
      '@loalang/protocol': src('protocol'),
      '@loalang/firmware-bridge': src('firmware-bridge'),
      '@loalang/edge-agent': src('edge-agent'),
      '@loalang/broker': src('broker'),
      '@loalang/console': src('console'),
      // Helpers shared by the tests (never imported by product code).
      '@loalang/test-kit': src('test-kit'),
    },
  },
  test: {
    include: ['*/src/**/*.test.ts', '*/test/**/*.test.ts', 'tests/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
