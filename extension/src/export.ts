/**
 * Export of the study's results (the engine's SEG and SR, built from the viewer's metadata),
 * stored through the viewer's data source, or downloaded. A failed store loses nothing: the
 * results stay in the panel and can be sent again.
 */
import { SourceSeries, sourceSeries as seriesOf } from '@abus-tumor-ai/engine';
import type { VolumeGeometry } from '@abus-tumor-ai/engine';
import type { Cornerstone } from './host';

/** The source series from the viewer's own metadata (cornerstone's 'instance'), in the engine's k order. */
export function sourceSeries(cs: Cornerstone, imageIds: string[], geometry: VolumeGeometry): SourceSeries {
  const frame = (id: string) => {
    const m = /[?&]frame=(\d+)/.exec(id) ?? /\/frames\/(\d+)/.exec(id);
    return m ? Number(m[1]) : undefined;
  };
  return seriesOf(imageIds.map((id) => ({ dataset: cs.cornerstone.metaData.get('instance', id), frameNumber: frame(id) })), geometry);
}

/**
 * Stores Part 10 files through OHIF's own data source (its store.dicom: STOW-RS with the viewer's
 * authentication), one file at a time. A failure says whether the server was down or refused.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function storeToDataSource(dataSource: any, files: Uint8Array[]): Promise<void> {
  if (!dataSource?.store?.dicom) throw new Error('The active data source cannot store DICOM; set exportTarget to download');
  for (const file of files) {
    try {
      await dataSource.store.dicom(file.slice().buffer);
    } catch (err) {
      const status = Number((err as { status?: number }).status ?? 0);
      // 502-504 come from a gateway or proxy in front of a server that is down, not from the server.
      if (!status) throw new Error(`The DICOMweb server could not be reached (${(err as Error).message ?? err}); the results are kept, try again`);
      if ([502, 503, 504].includes(status)) throw new Error(`The DICOMweb server is unavailable (HTTP ${status}); the results are kept, try again`);
      throw new Error(`The DICOMweb server refused the SEG and SR (HTTP ${status}); the results are kept, try again`);
    }
  }
}

export function download(name: string, bytes: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/dicom' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
