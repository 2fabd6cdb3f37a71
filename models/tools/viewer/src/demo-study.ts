/**
 * The viewer demo's study: a generated ABUS phantom written as a DICOM series (kept between runs)
 * and the manifest OHIF's DICOM JSON data source reads (each instance's metadata and the URL of
 * its file), so the demo needs no DICOM server.
 */
import * as fs from 'fs';
import * as path from 'path';
import { indexToPatient, makeUid, readPart10, writeDicomSeries } from '@abus-tumor-ai/engine';
import { generatePhantom } from '@abus-tumor-ai/research';

export interface DemoStudy {
  folder: string;
  studyInstanceUID: string;
  /**
   * What to tell the user: where the lesion is and what it is. slice: the image number the axial
   * view shows for it ("I:n"; that view looks along -z, so the volume's last slice is its first);
   * k: the volume's own slice index (0-based, position order).
   */
  lesion: { malignant: boolean; volumeMl: number; slice: number; of: number; k: number; column: number; row: number; centreMm: [number, number, number]; radiusMm: number };
  dims: [number, number, number];
}

/** The URL path the study folder is served under. */
export const DEMO_PREFIX = '/demo/';
const INFO = 'study.json';
const MANIFEST = 'dicom-json.json';

/** The demo study in `folder`, generated on first use (a full-size ABUS volume unless `small`). */
export function ensureDemoStudy(folder: string, options: { seed: number; small: boolean }): DemoStudy {
  const infoFile = path.join(folder, INFO);
  if (fs.existsSync(infoFile)) {
    const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as DemoStudy & { seed: number; small: boolean };
    if (info.seed === options.seed && info.small === options.small && info.lesion.centreMm !== undefined) return { ...info, folder };
  }
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(path.join(folder, 'dicom'), { recursive: true });
  const phantom = generatePhantom({ seed: options.seed, fullSize: !options.small, lesionCount: 1 });
  const studyInstanceUID = makeUid(`abus-demo/${options.seed}/${options.small}/study`);
  const files = writeDicomSeries(phantom.volume, { uidSeed: `abus-demo/${options.seed}/${options.small}`, studyInstanceUID, patientName: 'Phantom^Demo', patientId: 'ABUS-DEMO' }, 'single-frame');
  files.forEach((bytes, n) => fs.writeFileSync(path.join(folder, 'dicom', `${String(n).padStart(4, '0')}.dcm`), bytes));
  const [ci, cj, ck] = phantom.lesions[0].centerIndex;
  const info = {
    seed: options.seed,
    small: options.small,
    studyInstanceUID,
    lesion: {
      malignant: phantom.lesions[0].malignant,
      volumeMl: phantom.lesions[0].volume_ml,
      slice: phantom.volume.dims[2] - ck,
      of: phantom.volume.dims[2],
      k: ck,
      column: ci,
      row: cj,
      centreMm: indexToPatient(phantom.volume, [ci, cj, ck]),
      // The radius of a sphere of the lesion's volume: the demo's ring is drawn a little outside it.
      radiusMm: Math.cbrt((3 * phantom.lesions[0].volume_ml * 1000) / (4 * Math.PI)),
    },
    dims: phantom.volume.dims,
  };
  fs.writeFileSync(infoFile, JSON.stringify(info, null, 2));
  fs.writeFileSync(path.join(folder, MANIFEST), JSON.stringify(dicomJsonManifest(path.join(folder, 'dicom'), `${DEMO_PREFIX}dicom`)));
  return { ...info, folder };
}

/** The manifest's URL path under the viewer's origin. */
export const MANIFEST_PATH = `${DEMO_PREFIX}${MANIFEST}`;

/**
 * OHIF's DICOM JSON manifest for the files of one folder: studies > series > instances, each
 * instance with its naturalized metadata (pixel data left out) and a `dicomweb:` file URL
 * relative to the viewer's origin.
 */
export function dicomJsonManifest(dicomFolder: string, urlPath: string) {
  const studies = new Map<string, { meta: Record<string, unknown>; series: Map<string, { meta: Record<string, unknown>; instances: unknown[] }> }>();
  for (const name of fs.readdirSync(dicomFolder).filter((n) => n.endsWith('.dcm')).sort()) {
    const bytes = fs.readFileSync(path.join(dicomFolder, name));
    const ds = readPart10(new Uint8Array(bytes), name);
    delete ds.PixelData;
    const studyUid = String(ds.StudyInstanceUID);
    const seriesUid = String(ds.SeriesInstanceUID);
    const study = studies.get(studyUid) ?? { meta: pick(ds, ['StudyInstanceUID', 'StudyDate', 'StudyTime', 'StudyDescription', 'PatientName', 'PatientID', 'AccessionNumber', 'PatientBirthDate', 'PatientSex']), series: new Map() };
    studies.set(studyUid, study);
    const series = study.series.get(seriesUid) ?? { meta: pick(ds, ['SeriesInstanceUID', 'SeriesDescription', 'SeriesNumber', 'Modality', 'SeriesDate', 'SeriesTime']), instances: [] };
    study.series.set(seriesUid, series);
    series.instances.push({ metadata: ds, url: `dicomweb:${urlPath}/${name}` });
  }
  return {
    studies: [...studies.values()].map((s) => ({
      ...s.meta,
      NumInstances: [...s.series.values()].reduce((n, x) => n + x.instances.length, 0),
      Modalities: [...new Set([...s.series.values()].map((x) => x.meta.Modality))].join('\\'),
      series: [...s.series.values()].map((x) => ({ ...x.meta, instances: x.instances })),
    })),
  };
}

function pick(ds: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => ds[k] !== undefined).map((k) => [k, ds[k]]));
}
