/**
 * The sweep handler and the frame planes it gives cornerstone, against a stub OHIF (its stack
 * handler and data source) and a stub cornerstone: which images become volumes, where their frames
 * lie, and that the analysis' volume places them the same way.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { NaturalDataset, readPart10, Volume, writeDicomSeries } from '@abus-tumor-ai/engine';
import { US_MULTIFRAME_IMAGE_STORAGE } from '@abus-tumor-ai/engine';
import { SWEEP_HANDLER, sweepHandler } from './sweep';
import type { Cornerstone } from './host';
import { viewerVolume } from './viewer-volume';

const STACK = '@ohif/extension-default.sopClassHandlerModule.stack';
const HANDLER_ID = `@abus-tumor-ai/extension.sopClassHandlerModule.${SWEEP_HANDLER}`;
const FRAMES = 5;

/** A sweep as OHIF holds it: the naturalized instance without its pixels. */
function sweepInstance(extra: { omitSweepSpacing?: boolean; spacing?: number } = {}): NaturalDataset {
  const volume: Volume = { dims: [4, 3, FRAMES], spacing: [0.8, 0.4, extra.spacing ?? 0.5], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], data: new Uint8Array(4 * 3 * FRAMES) };
  const [file] = writeDicomSeries(volume, { uidSeed: 'sweep-test', omitSweepSpacing: extra.omitSweepSpacing }, 'multiframe');
  const { PixelData: _pixels, ...instance } = readPart10(file);
  return instance;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Provider = (type: string, imageId: string) => any;

/** OHIF's stack handler and data source, and a cornerstone whose metadata asks the added providers. */
function host() {
  const providers: { fn: Provider; priority: number }[] = [];
  const cs = {
    cornerstone: {
      metaData: {
        addProvider: jest.fn((fn: Provider, priority: number) => providers.push({ fn, priority })),
        get: (type: string, imageId: string) => providers.map((p) => p.fn(type, imageId)).find((v) => v !== undefined),
      },
    },
    cornerstoneTools: {},
  } as unknown as Cornerstone;
  const idsOf = (ds: { instance: NaturalDataset }) => Array.from({ length: Number(ds.instance.NumberOfFrames) }, (_, f) => `wadors:/studies/1/series/2/instances/${String(ds.instance.SOPInstanceUID)}/frames/${f + 1}`);
  const stack = { getDisplaySetsFromSeries: jest.fn((instances: NaturalDataset[]) => instances.map((instance) => ({ instance, SOPClassHandlerId: STACK, isReconstructable: false }))) };
  const extensionManager = {
    getModuleEntry: (id: string) => (id === STACK ? stack : undefined),
    getActiveDataSource: () => [{ getImageIdsForDisplaySet: idsOf }],
  };
  return { cs, providers, stack, extensionManager, idsOf };
}

describe('sweep handler', () => {
  it('makes a sweep a reconstructable display set of its own and places each frame one sweep spacing apart', () => {
    const h = host();
    const handler = sweepHandler(h.extensionManager, HANDLER_ID, () => h.cs);
    expect(handler.sopClassUids).toEqual([US_MULTIFRAME_IMAGE_STORAGE]);
    const inst = sweepInstance();
    const [ds] = handler.getDisplaySetsFromSeries([inst]);
    expect(ds).toMatchObject({ SOPClassHandlerId: HANDLER_ID, isReconstructable: true });
    // Above OHIF's own provider (9999).
    expect(h.providers).toHaveLength(1);
    expect(h.providers[0].priority).toBeGreaterThan(9999);
    const ids = h.idsOf(ds);
    const planes = ids.map((id) => h.cs.cornerstone.metaData.get('imagePlaneModule', id));
    planes.forEach((p, k) => {
      expect(p).toMatchObject({ rows: 3, columns: 4, rowPixelSpacing: 0.4, columnPixelSpacing: 0.8, pixelSpacing: [0.4, 0.8], imageOrientationPatient: [1, 0, 0, 0, 1, 0], frameOfReferenceUID: inst.FrameOfReferenceUID });
      expect(p.imagePositionPatient).toEqual([0, 0, 0.5 * k]);
    });
    expect(h.cs.cornerstone.metaData.get('imagePixelModule', ids[0])).toBeUndefined();
    expect(h.cs.cornerstone.metaData.get('imagePlaneModule', 'wadors:/another/frames/1')).toBeUndefined();

    // The analysis' volume of the same display set: the same origin, axes and spacing as the views.
    const volume = viewerVolume(h.cs, inst, ids).source;
    expect(volume.origin).toEqual(planes[0].imagePositionPatient);
    expect(volume.spacing).toEqual([0.8, 0.4, 0.5]);
    expect(volume.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(viewerVolume(h.cs, inst, ids).assumedGeometry[0]).toMatch(/^sweep spacing 0.5 mm/);
  });

  it('takes the spacing from the file, else from the setting', () => {
    const h = host();
    const stated = sweepInstance({ omitSweepSpacing: false, spacing: 0.6 });
    const unstated = { ...sweepInstance(), SOPInstanceUID: '2.25.99' };
    const handler = sweepHandler(h.extensionManager, HANDLER_ID, () => h.cs, 0.8);
    const [a, b] = handler.getDisplaySetsFromSeries([stated, unstated]);
    const z = (ds: { instance: NaturalDataset }) => h.idsOf(ds).map((id) => h.cs.cornerstone.metaData.get('imagePlaneModule', id).imagePositionPatient[2]);
    z(a).forEach((v: number, k: number) => expect(v).toBeCloseTo(0.6 * k, 9));
    z(b).forEach((v: number, k: number) => expect(v).toBeCloseTo(0.8 * k, 9));
    expect(viewerVolume(h.cs, unstated, h.idsOf(b), { sweepSpacingMm: 0.8 }).source.spacing[2]).toBe(0.8);
  });

  it('leaves images with frame positions and sweeps without a pixel size to the handlers after it', () => {
    const h = host();
    const handler = sweepHandler(h.extensionManager, HANDLER_ID, () => h.cs);
    const positioned = { ...sweepInstance(), ImagePositionPatient: [0, 0, 0] };
    const { SequenceOfUltrasoundRegions: _regions, ...uncalibrated } = sweepInstance();
    expect(handler.getDisplaySetsFromSeries([positioned, uncalibrated])).toEqual([]);
    expect(h.stack.getDisplaySetsFromSeries).not.toHaveBeenCalled();
    expect(h.providers).toHaveLength(0);
  });
});
