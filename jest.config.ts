import type { Config } from 'jest';

// Tests import the packages by name; map the names to their sources so a test always runs the
// code it sits beside (child-process fixtures use the built dist, which `pretest` refreshes).
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/examples'],
  testMatch: ['**/test/**/*.test.ts'],
  moduleNameMapper: {
    '^@filekeep/core$': '<rootDir>/packages/core/src/index.ts',
    '^@filekeep/express$': '<rootDir>/packages/express/src/index.ts',
  },
  transform: {
    // Type checking is `npm run typecheck` (run by pretest); jest only transpiles.
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  setupFilesAfterEnv: ['<rootDir>/packages/core/test/helpers/jest-setup.ts'],
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
