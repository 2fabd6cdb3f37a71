/**
 * No engine-wide globals: load()'s options live in the engine it returns, so nothing at a module's
 * top level may be reassigned after import. A top-level `let` or `var` is where such state hides;
 * caches keyed by what they cache (a WeakMap per backend instance) are consts and stay allowed.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const SRC = __dirname;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.ts$/.test(e.name) && !/\.(test|d)\.ts$/.test(e.name) ? [p] : [];
  });
}

/** `file:line name` for every top-level let or var (file relative to the engine's src). */
function topLevelMutables(file: string, text = fs.readFileSync(file, 'utf8')): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  return sf.statements.flatMap((s) => {
    if (!ts.isVariableStatement(s) || s.declarationList.flags & ts.NodeFlags.Const) return [];
    const line = sf.getLineAndCharacterOfPosition(s.getStart()).line + 1;
    return s.declarationList.declarations.map((d) => `${path.relative(SRC, file)}:${line} ${d.name.getText(sf)}`);
  });
}

test('the check finds a top-level let or var, and not one inside a function', () => {
  const file = path.join(SRC, 'example.ts');
  expect(topLevelMutables(file, 'let a = 1;\nexport var b = 2;\nconst c = 3;\nfunction f() { let d = 4; return d; }')).toEqual(['example.ts:1 a', 'example.ts:2 b']);
});

test('no module of the engine has top-level mutable state', () => {
  const files = sources(SRC);
  expect(files.length).toBeGreaterThan(40);
  expect(files.flatMap((f) => topLevelMutables(f))).toEqual([]);
});
