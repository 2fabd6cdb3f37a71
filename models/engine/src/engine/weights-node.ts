/** Writing a saved model to a folder on disk (Node). Reading one is readerFor / folderReader in weights.ts. */
import { promises as fs } from 'fs';
import { SavedModel } from './weights';
import * as path from 'path';

export async function writeModelFolder(dir: string, saved: SavedModel): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(saved.manifest, null, 2) + '\n');
  await fs.writeFile(path.join(dir, 'model-card.json'), JSON.stringify(saved.card, null, 2) + '\n');
  for (const [name, bytes] of saved.shards) await fs.writeFile(path.join(dir, name), bytes);
}
