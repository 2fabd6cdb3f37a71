// jest globalSetup: which tfjs backends start on this machine, found once, in a child process
// (Dawn keeps a process alive), before any test file is collected. Test files read the answer
// synchronously (test/backends.ts: backendSkip), so a test whose backend cannot start is
// skipped with the reason at collection time, never passed by returning early; under CI=true a
// test that needs a missing one fails (test/prerequisites.ts).
const { execFileSync } = require('child_process');
const path = require('path');

const PROBE = `
require(${JSON.stringify(path.join(__dirname, 'setup-webgpu.js'))});
const { tryBackend } = require(${JSON.stringify(path.join(__dirname, '..', 'models', 'engine', 'dist', 'lab.js'))});
(async () => {
  const out = {};
  for (const name of ['cpu', 'wasm', 'webgpu']) out[name] = name === 'webgpu' && globalThis.__webgpuUnavailable ? globalThis.__webgpuUnavailable : (await tryBackend(name)) ?? null;
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})();
`;

module.exports = async function probeBackends() {
  let found;
  try {
    found = JSON.parse(execFileSync(process.execPath, ['-e', PROBE], { encoding: 'utf8', timeout: 120000, stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (err) {
    const why = `the backend probe failed (${String(err.message).split('\n')[0]}); is the engine built (npm run build)?`;
    found = { cpu: why, wasm: why, webgpu: why };
  }
  process.env.ABUS_BACKENDS = JSON.stringify(found);
};
