// Installs navigator.gpu from Dawn (the `webgpu` npm package) before any test imports
// tfjs-backend-webgpu, which registers itself only when navigator.gpu exists at import time.
// The package is ESM-only but its native addon is not, so the addon is required directly.
// Without a Vulkan driver (SwiftShader ships with Debian's chromium) the webgpu tests skip
// with a printed reason; see test/webgpu-available.ts.
const path = require('path');
const { createRequire } = require('module');

// VK_ICD_FILENAMES (SwiftShader) is set in jest.config.js: the Vulkan loader reads the real
// process environment, which a test file's process.env copy does not reach.

try {
  const pkgDir = path.dirname(require.resolve('webgpu/package.json'));
  const dawn = createRequire(__filename)(path.join(pkgDir, 'dist', `${process.platform}-${process.arch}`, 'dawn.node'));
  Object.assign(globalThis, dawn.globals);
  if (!globalThis.navigator) globalThis.navigator = {};
  globalThis.navigator.gpu = dawn.create([]);
} catch (err) {
  globalThis.__webgpuUnavailable = `Dawn could not be loaded: ${err.message}`;
}

// tfjs's advice to install tfjs-node (which downloads a binary and cannot be used here) is noise in test logs.
require('@tensorflow/tfjs-core').env().set('PROD', true);
