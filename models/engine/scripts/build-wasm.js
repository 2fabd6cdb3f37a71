#!/usr/bin/env node
/**
 * Assembles models/engine/src/engine/wasm/conv3x3.wat into conv3x3-module.ts (the module's bytes, base64),
 * so the engine loads the same way in Node, a Web Worker and the browser bundle without a wasm
 * file to serve. Twice: importing a plain memory, and a shared one, because tfjs-wasm's threaded
 * build (chosen when the page is cross-origin isolated) runs on a shared WebAssembly.Memory and a
 * module can import only the kind of memory it declares.
 * `--check` fails if the committed module is not what the source assembles to.
 */
const fs = require('fs');
const path = require('path');

const dir = path.join(__dirname, '..', 'src', 'engine', 'wasm');
const source = path.join(dir, 'conv3x3.wat');
const target = path.join(dir, 'conv3x3-module.ts');

const FEATURES = { simd: true, bulk_memory: true, threads: true };
const PLAIN_MEMORY = '(import "env" "memory" (memory 1))';
// A shared memory must declare its maximum; 65536 pages (4 GiB) admits any wasm32 memory.
const SHARED_MEMORY = '(import "env" "memory" (memory 1 65536 shared))';

async function assemble(shared) {
  const wabt = await require('wabt')();
  const text = fs.readFileSync(source, 'utf8');
  if (!text.includes(PLAIN_MEMORY)) throw new Error(`conv3x3.wat must import its memory as ${PLAIN_MEMORY}`);
  const parsed = wabt.parseWat('conv3x3.wat', shared ? text.replace(PLAIN_MEMORY, SHARED_MEMORY) : text, FEATURES);
  try {
    parsed.validate(FEATURES);
    const { buffer } = parsed.toBinary({});
    return Buffer.from(buffer).toString('base64');
  } finally {
    parsed.destroy();
  }
}

async function main() {
  const base64 = await assemble(false);
  const text =
    '// Generated from conv3x3.wat by `npm run build:wasm`; do not edit.\n' +
    `export const CONV3X3_WASM_BASE64 =\n  '${base64}';\n` +
    '/** The same module importing a shared memory (tfjs-wasm\'s threaded build). */\n' +
    `export const CONV3X3_SHARED_WASM_BASE64 =\n  '${await assemble(true)}';\n`;
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
