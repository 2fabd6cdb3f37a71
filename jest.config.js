/** One jest run covers every workspace; WebGPU (Dawn on SwiftShader) is installed before any test module loads. */
const fs = require('fs');
const os = require('os');

// The Vulkan loader reads these from the real process environment when Dawn starts; jest gives
// test files a copy of process.env, so they are set here, before the workers are forked.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = os.tmpdir();

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json'}] },
  testMatch: ['<rootDir>/models/*/src/**/*.test.ts', '<rootDir>/models/tools/*/src/**/*.test.ts', '<rootDir>/extension/*/**/*.test.ts', '<rootDir>/mode/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  // Tests run on the packages' TypeScript, reached through their public entry points only.
  moduleNameMapper: {
    '^@abus-tumor-ai/engine$': '<rootDir>/models/engine/src/index.ts',
    '^@abus-tumor-ai/engine/(node|lab)$': '<rootDir>/models/engine/src/$1.ts',
    '^@abus-tumor-ai/(cli|research|release|viewer)$': '<rootDir>/models/tools/$1/src/index.ts',
    '^@abus-tumor-ai/extension/install$': '<rootDir>/extension/install/index.ts',
  },
  setupFiles: ['<rootDir>/test/setup-webgpu.js'],
  globalSetup: '<rootDir>/test/probe-backends.js',
  testTimeout: 120000,
  // Two workers on two cores: the end-to-end suites spend much of their time waiting on Chromium,
  // Orthanc and nginx, so a second worker fills those waits (the whole suite on 2 cores: 1401 s,
  // against 2000 s with jest's default of one worker there).
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
