/** The CLI's one-line failures: Node's file errors name the path, commander's are usage errors. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliError, describeError } from './errors';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

test('a file error is one line naming the path, with its code', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-errors-'));
  expect(describeError(thrown(() => fs.readFileSync(path.join(dir, 'missing.nrrd'))))).toEqual({ message: `${path.join(dir, 'missing.nrrd')}: no such file or folder (ENOENT)`, code: 'filesystem', status: 1 });
  expect(describeError(thrown(() => fs.writeFileSync(dir, 'x'))).message).toBe(`${dir}: is a folder, not a file (EISDIR)`);
  fs.rmSync(dir, { recursive: true });
});

test('usage errors exit 2, others 1', () => {
  expect(describeError(new CliError('bad', 'usage')).status).toBe(2);
  expect(describeError(new CliError('bad', 'input')).status).toBe(1);
  expect(describeError(Object.assign(new Error("error: unknown option '--x'"), { code: 'commander.unknownOption' }))).toEqual({ message: "unknown option '--x'", code: 'usage', status: 2 });
  expect(describeError(new Error('plain')).code).toBe('error');
});
