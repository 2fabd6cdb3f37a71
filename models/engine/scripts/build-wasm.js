#!/usr/bin/env node
/**
 * Assembles models/engine/src/engine/wasm/conv3x3.wat into conv3x3-module.ts (the module's bytes, base64),
 * so the engine loads the same way in Node, a Web Worker and the browser bundle without a wasm
 * file to serve. `--check` fails if the committed module is not what the source assembles to.
 */
const fs = require('fs');
const path = require('path');

const dir = path.join(__dirname, '..', 'src', 'engine', 'wasm');
const source = path.join(dir, 'conv3x3.wat');
const target = path.join(dir, 'conv3x3-module.ts');

async function assemble() {
  const wabt = await require('wabt')();
  const parsed = wabt.parseWat('conv3x3.wat', fs.readFileSync(source, 'utf8'), { simd: true, bulk_memory: true });
  try {
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    return Buffer.from(buffer).toString('base64');
  } finally {
    parsed.destroy();
  }
}

async function main() {
  const base64 = await assemble();
  const text =
    '// Generated from conv3x3.wat by `npm run build:wasm`; do not edit.\n' +
    `export const CONV3X3_WASM_BASE64 =\n  '${base64}';\n`;
  if (process.argv.includes('--check')) {
    if (fs.readFileSync(target, 'utf8') !== text) {
      console.error('conv3x3-module.ts is not what conv3x3.wat assembles to: run npm run build:wasm');
      process.exit(1);
    }
    console.log('conv3x3-module.ts matches conv3x3.wat');
    return;
  }
  fs.writeFileSync(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)} (${Buffer.from(base64, 'base64').length} bytes of wasm)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
