// Jest in ESM mode (@kubernetes/client-node is ESM-only). Two projects: unit tests beside the code,
// and integration tests that share one real control plane started by the global setup.
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
      testMatch: ['<rootDir>/{api,lib,cmd,operator,csi,sync,hack}/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.js',
      globalTeardown: '<rootDir>/test/integration/global-teardown.js',
    },
  ],
};
