// Jest in ESM mode (@kubernetes/client-node is ESM-only). Three projects: unit tests beside the code,
// integration tests that share one real control plane started by the global setup, and the
// end-to-end test on a real single-node cluster.
const transform = { '^.+\\.ts$': ['ts-jest', { useESM: true }] };
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  testEnvironment: 'node',
};

export default {
  // Integration tests wait for real servers and controllers to converge (eventually(), 20 s by
  // default); jest applies the timeout globally, not per project.
  testTimeout: 90_000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{api,lib,cmd,fs,operator,csi,sync,hack}/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.js',
      globalTeardown: '<rootDir>/test/integration/global-teardown.js',
    },
    {
      // A real single-node cluster of its own (hack/cluster); run alone, after the others, by
      // `npm run test:e2e`.
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
    },
  ],
};
