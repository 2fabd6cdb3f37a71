/** abus-ai phantom: the dataset, the previews and the one-line summary. */
import { Command } from 'commander';
import { readPhantomIndex } from '@abus-tumor-ai/research';
import { registerPhantom } from './phantom';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-phantom-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('abus-ai phantom writes the dataset and previews and prints a one-line summary', async () => {
  const out = path.join(tmp, 'cli');
  const program = new Command('abus-ai').exitOverride();
  registerPhantom(program);
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await program.parseAsync(['node', 'abus-ai', 'phantom', '--out', out, '--count', '2', '--seed', '5', '--preview', '1']);
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0][0])).toMatch(/^phantom: 2 cases \(\d+ malignant, \d+ benign, \d+ without lesion, \d+ with two or more lesions, \d+ lesions in all.* in [\d.]+ s -> /);
  } finally {
    log.mockRestore();
  }
  expect(fs.existsSync(path.join(out, 'preview', 'DATA_000.png'))).toBe(true);
  expect(fs.existsSync(path.join(out, 'preview', 'DATA_001.png'))).toBe(false);
  expect(readPhantomIndex(out).cases).toHaveLength(2);
  const bad = new Command('abus-ai').exitOverride();
  registerPhantom(bad);
  await expect(bad.parseAsync(['node', 'abus-ai', 'phantom', '--out', out, '--format', 'jpeg'])).rejects.toThrow(/unknown format 'jpeg'/);
});
