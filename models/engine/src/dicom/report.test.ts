/** The lesion exports' shared parts: laterality read (never guessed), labels with verdict words, sweep frame positions. */
import { indexToPatient, IDENTITY_DIRECTION, Vec3 } from '../volume';
import { readPart10 } from './common';
import { lateralityOf, lesionLabel, sourceSeries } from './report';
import { buildMeasurementReport } from './sr';
import { buildBinarySeg } from './seg';
import { dciodvfy, withDciodvfy } from '../../../../test/dciodvfy';

test('laterality comes from the attributes, then the series description (said so), never a guess', () => {
  expect(lateralityOf({ Laterality: 'L' })).toEqual({ side: 'L', from: 'Laterality (0020,0060)' });
  expect(lateralityOf({ ImageLaterality: 'R' })).toEqual({ side: 'R', from: 'Image Laterality (0020,0062)' });
  expect(lateralityOf({ SharedFunctionalGroupsSequence: [{ FrameAnatomySequence: [{ FrameLaterality: 'L' }] }] }).side).toBe('L');
  expect(lateralityOf({ PerFrameFunctionalGroupsSequence: [{ FrameAnatomySequence: [{ FrameLaterality: 'R' }] }] }).side).toBe('R');
  expect(lateralityOf({ SeriesDescription: 'ABUS RT breast sweep 2' })).toMatchObject({ side: 'R', from: expect.stringMatching(/series description/) });
  // Both sides named, or a letter that is not a side (B, U), is no answer.
  expect(lateralityOf({ SeriesDescription: 'left and right' }).side).toBeUndefined();
  expect(lateralityOf({ Laterality: 'B' }).side).toBeUndefined();
  expect(lateralityOf({}).from).toMatch(/unknown/);
});

test('labels carry the verdict words and the probability, or the probability alone', () => {
  expect(lesionLabel({ probability: 0.873, verdict: 'Suspicious for malignancy' })).toBe('Suspicious for malignancy, 87% (AI)');
  expect(lesionLabel({ probability: 0.45, verdict: 'Indeterminate' })).toBe('Indeterminate, 45% (AI)');
  expect(lesionLabel({ probability: 0.45, verdict: null })).toBe('P(malignant) 45% (AI)');
  expect(lesionLabel({ probability: null, verdict: null })).toBe('Lesion (AI)');
});

test("a sweep's frames are placed where the analysis placed them, one sweep spacing apart", () => {
  const geometry = { dims: [4, 3, 5] as Vec3, spacing: [0.2, 0.1, 0.5] as Vec3, origin: [1, 2, 3] as Vec3, direction: IDENTITY_DIRECTION };
  const dataset = { SOPClassUID: '1.2.840.10008.5.1.4.1.1.3.1', SOPInstanceUID: '1.2.3', NumberOfFrames: 5, Rows: 3, Columns: 4, StudyInstanceUID: '1.2', SeriesInstanceUID: '1.2.1' };
  const series = sourceSeries(Array.from({ length: 5 }, (_, k) => ({ dataset, frameNumber: k + 1 })), geometry);
  expect(series.sliceSpacing).toBe(0.5);
  series.images.forEach((im, k) => {
    expect(im.frameNumber).toBe(k + 1);
    expect(im.imagePositionPatient).toEqual(indexToPatient(geometry, [0, 0, k]));
  });
  const mask = new Uint8Array(4 * 3 * 2).fill(1);
  const seg = buildBinarySeg(series, [{ label: 'Lesion 1', malignant: null, mask, min: [0, 0, 1], max: [3, 2, 2] }], { algorithmName: 'test', algorithmVersion: '0' });
  const frames = (readPart10(seg.bytes).PerFrameFunctionalGroupsSequence as { PlanePositionSequence: { ImagePositionPatient: number[] }[] }[]).map((f) => f.PlanePositionSequence[0].ImagePositionPatient.map(Number)[2]);
  expect(frames).toEqual([3.5, 4]);
});

const context = (laterality?: 'L' | 'R') => ({
  studyInstanceUID: '1.2.826.0.1.3680043.8.498.1', seriesInstanceUID: '1.2.826.0.1.3680043.8.498.2', patientName: 'Test^Laterality', patientId: 'LAT',
  laterality: laterality ? { side: laterality, from: 'Laterality (0020,0060)' } : { from: 'nothing in the source: laterality unknown' },
});
const series = (laterality?: 'L' | 'R') => ({
  ...context(laterality), rows: 2, columns: 2, pixelSpacing: [0.1, 0.2] as [number, number], imageOrientationPatient: [1, 0, 0, 0, 1, 0] as [number, number, number, number, number, number], sliceSpacing: 0.5,
  images: [0, 1].map((k) => ({ sopClassUID: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUID: `1.2.826.0.1.3680043.8.498.3.${k}`, imagePositionPatient: [0, 0, k * 0.5] as [number, number, number] })),
});

withDciodvfy.each([['L'], ['R'], [undefined]] as const)('laterality %s reaches the SEG and the SR, which dciodvfy accepts', (side) => {
  const seg = buildBinarySeg(series(side), [{ label: 'Lesion 1', malignant: true, mask: new Uint8Array(8).fill(1), min: [0, 0, 0], max: [1, 1, 1] }], { algorithmName: 'test', algorithmVersion: '0' });
  const region = (readPart10(seg.bytes).SegmentSequence as { AnatomicRegionSequence: { CodeMeaning: string; AnatomicRegionModifierSequence?: { CodeMeaning: string }[] }[]; SegmentDescription?: string }[])[0];
  expect(region.AnatomicRegionSequence[0].CodeMeaning).toBe('Breast');
  expect(region.AnatomicRegionSequence[0].AnatomicRegionModifierSequence?.[0].CodeMeaning).toBe(side === 'L' ? 'Left' : side === 'R' ? 'Right' : undefined);
  if (!side) expect(region.SegmentDescription).toMatch(/laterality unknown/);
  const sr = buildMeasurementReport({ ...context(side), images: [] }, [{ number: 1, probability: 0.7, verdict: 'Suspicious for malignancy', volumeMl: 1, longestDiameterMm: 10, segment: { sopInstanceUID: seg.sopInstanceUID, seriesInstanceUID: seg.seriesInstanceUID, segmentNumber: 1 } }], { algorithmName: 'test', algorithmVersion: '0', operatingPoints: { ruleOut: 0.2, ruleIn: 0.6 } });
  const text = JSON.stringify(readPart10(sr.bytes));
  expect(text).toContain(side === 'L' ? 'Left breast' : side === 'R' ? 'Right breast' : '"Unknown"');
  expect(text).toContain('Suspicious for malignancy');
  for (const [name, bytes] of [['seg', seg.bytes], ['sr', sr.bytes]] as const) expect(dciodvfy(bytes, `${name}-${side ?? 'unknown'}`).errors).toEqual([]);
});

test('the SR has a qualitative evaluation only outside the indeterminate band, and always the probability', () => {
  const one = (verdict: 'Indeterminate' | 'Likely benign' | null) => JSON.stringify(readPart10(buildMeasurementReport({ ...context('L'), images: [] }, [{ number: 1, probability: 0.4, verdict, volumeMl: 1, longestDiameterMm: 10, segment: { sopInstanceUID: '1.2.3', seriesInstanceUID: '1.2.4', segmentNumber: 1 } }], { algorithmName: 't', algorithmVersion: '0' }).bytes));
  expect(one('Indeterminate')).not.toContain('Qualitative Evaluations');
  expect(one(null)).not.toContain('Qualitative Evaluations');
  expect(one('Likely benign')).toContain('Likely benign');
  for (const v of ['Indeterminate', 'Likely benign', null] as const) expect(one(v)).toContain('Probability of cancer');
});
