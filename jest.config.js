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
  testMatch: ['<rootDir>/models/src/**/*.test.ts', '<rootDir>/extension/src/**/*.test.ts', '<rootDir>/mode/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  setupFiles: ['<rootDir>/test/setup-webgpu.js'],
  testTimeout: 120000,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
