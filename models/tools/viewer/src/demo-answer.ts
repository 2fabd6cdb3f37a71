/**
 * What the model answers on the demo's lesion, so the terminal can say it beside the phantom's
 * truth: a first-time user saw "a benign-looking lesion" in the terminal and "Suspicious for
 * malignancy" on the card (issue #25). The engine runs once, in this process (wasm), on the same
 * DICOM files the viewer serves, at the lesion's centre; the answer is kept in the study folder
 * for the same model files.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { arraySource, load } from '@abus-tumor-ai/engine';
import { clickPoints, readVolumeFile } from '@abus-tumor-ai/research';
import type { DemoStudy } from './demo-study';

export interface DemoAnswer {
  /** The verdicts the 7 clicks gave, each once ("no lesion" for a click that found none). */
  verdicts: string[];
  /** P(malignant) and the segmented volume over the clicks that found the lesion: [min, max]. */
  probability: [number, number] | null;
  volumeMl: [number, number] | null;
  clicks: number;
  /** The model that answered (card name and version) and a digest of its files. */
  model: string;
  digest: string;
}

const ANSWER = 'model-answer.json';

function digestOf(weights: string): string {
  const hash = createHash('sha256');
  for (const name of fs.readdirSync(weights).sort()) hash.update(name).update(fs.readFileSync(path.join(weights, name)));
  return hash.digest('hex');
}

const span = (values: number[]): [number, number] | null => (values.length ? [Math.min(...values), Math.max(...values)] : null);

/**
 * The model's answer at the lesion's centre and at the 6 clicks around it that `abus-ai eval
 * --click-robustness` makes (0.35 of its radius away): a reader's click lands anywhere on the
 * mass, and P moves a little with it, so the terminal gives the range the card will fall in.
 */
export async function demoAnswer(study: DemoStudy, weights: string, wasmPath?: string): Promise<DemoAnswer> {
  const file = path.join(study.folder, ANSWER);
  const digest = digestOf(weights);
  if (fs.existsSync(file)) {
    const kept = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoAnswer;
    if (kept.digest === digest && kept.clicks) return kept;
  }
  const volume = readVolumeFile(path.join(study.folder, 'dicom'));
  const engine = await load({ wasmPath, weights, backend: 'wasm', warmUp: false });
  try {
    const { column, row, k, radiusMm } = study.lesion;
    const results = [];
    for (const click of clickPoints([column, row, k], [radiusMm, radiusMm, radiusMm], volume.spacing)) {
      results.push(await engine.analyze(arraySource(volume), click, { centerSpace: 'voxel' }));
    }
    const found = results.filter((r) => r.found);
    const answer: DemoAnswer = {
      verdicts: [...new Set(results.map((r) => (r.found ? r.verdict ?? 'no verdict' : 'no lesion')))],
      probability: span(found.flatMap((r) => (r.probability === null ? [] : [r.probability]))),
      volumeMl: span(found.map((r) => r.size.volumeMl)),
      clicks: results.length,
      model: `${engine.card.name} ${engine.card.version}`,
      digest,
    };
    fs.writeFileSync(file, JSON.stringify(answer, null, 2));
    return answer;
  } finally {
    engine.dispose();
  }
}
