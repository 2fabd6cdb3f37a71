#!/usr/bin/env node
// The abus-ai command line; the TypeScript is compiled by `npm run build` (part of `npm test`).
const path = require('path');
const fs = require('fs');
const main = path.join(__dirname, '..', 'dist', 'main.js');
if (!fs.existsSync(main)) {
  console.error('abus-ai: error: the engine is not built yet; run `npm run build` in the repository root first');
  process.exit(1);
}
require(main).main(process.argv).then(
  (status) => {
    process.exitCode = status;
  },
  (err) => {
    console.error(`abus-ai: error: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
