/** Node-only file access for saved models: a folder on disk or an http(s) URL. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { FileReader, SavedModel, urlReader } from './weights';

export function folderReader(dir: string): FileReader {
  return async (file) => {
    const full = path.join(dir, file);
    try {
      return new Uint8Array(await fs.readFile(full));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `Weights file not found: ${full}` : `Could not read ${full}: ${(err as Error).message}`);
    }
  };
}

export function sourceReader(source: string): FileReader {
  return /^https?:\/\//.test(source) ? urlReader(source) : folderReader(source);
}

export async function writeModelFolder(dir: string, saved: SavedModel): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(saved.manifest, null, 2) + '\n');
  await fs.writeFile(path.join(dir, 'model-card.json'), JSON.stringify(saved.card, null, 2) + '\n');
  for (const [name, bytes] of saved.shards) await fs.writeFile(path.join(dir, name), bytes);
}
