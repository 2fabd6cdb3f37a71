/** The probability bar's range band and labelled operating points, on a minimal stand-in DOM (the panel only builds elements). */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { candidateRow, fallbackNote, operatingPointsTip, probabilityBar } from './panel';
import type { AbusTumorService, CandidateRow } from './service';

class FakeElement {
  children: FakeElement[] = [];
  attributes = new Map<string, string>();
  style = { cssText: '' };
  textContent = '';
  title = '';
  onclick: unknown = null;
  setAttribute(name: string, value: string) {
    this.attributes.set(name, value);
  }
  append(...els: FakeElement[]) {
    this.children.push(...els);
  }
  /** Every element below this one with data-cy = cy. */
  find(cy: string): FakeElement[] {
    return this.children.flatMap((c) => [...(c.attributes.get('data-cy') === cy ? [c] : []), ...c.find(cy)]);
  }
}

const global = globalThis as unknown as { document?: unknown };
beforeAll(() => {
  global.document = { createElement: () => new FakeElement() };
});
afterAll(() => {
  delete global.document;
});

const POINTS = { ruleOut: 0.226, ruleIn: 0.668 };

it('the ticks are labelled "rule-out 23%" and "rule-in 67%", with what they mean on hover', () => {
  const bar = probabilityBar(0.61, '#f0be28', POINTS) as unknown as FakeElement;
  expect(bar.find('abus-rule-out')[0].textContent).toBe('rule-out 23%');
  expect(bar.find('abus-rule-in')[0].textContent).toBe('rule-in 67%');
  const tip = bar.find('abus-operating-points')[0].title;
  expect(tip).toBe(operatingPointsTip(POINTS));
  expect(tip).toMatch(/Rule-out 23%: below it, "Likely benign".*Rule-in 67%: above it, "Suspicious for malignancy"/);
  expect(bar.find('abus-probability-range')).toHaveLength(0);
});

it('the range of P over the views is a band from its low to its high end', () => {
  const bar = probabilityBar(0.66, '#f0be28', POINTS, [0.61, 0.72]) as unknown as FakeElement;
  const [band] = bar.find('abus-probability-range');
  expect(band.style.cssText).toMatch(/left:61\.0%;width:11\.0%/);
});

it('without operating points: the bar alone, no ticks', () => {
  const bar = probabilityBar(0.5, '#8fa3c0') as unknown as FakeElement;
  expect(bar.find('abus-operating-points')).toHaveLength(0);
  expect(bar.find('abus-probability-bar')).toHaveLength(1);
});

it('a backend message is one line, its first clause; the whole message is the "why"', () => {
  const message = 'Not on WebGPU: running on wasm, because webgpu: navigator.gpu.requestAdapter() returned no adapter; webgl: ANGLE on SwiftShader (a software GPU); 3x3x3 convolutions by the WebAssembly SIMD kernel.';
  expect(fallbackNote(message)).toEqual({ line: 'Not on WebGPU: running on wasm', why: message });
  expect(fallbackNote('Not on WebGPU: running on wasm (forced); 3x3x3 convolutions by XNNPACK conv2d.').line).toBe('Not on WebGPU: running on wasm');
  expect(fallbackNote('The GPU was lost (destroyed); now running on wasm').line).toBe('The GPU was lost');
  expect(fallbackNote('No backend could start.').line).toBe('No backend could start');
});

it('a proposal the detector alone outlined says so and shows no verdict; a click-analysed one has no such note', () => {
  const result = (outline?: 'detector') => ({
    found: true, probability: outline ? null : 0.8, probabilityRange: outline ? null : [0.8, 0.8], verdict: outline ? null : 'Suspicious for malignancy',
    size: { volumeMl: 0.7, longestMm: 14, extentMm: { lateral: 14, depth: 8, sweep: 12 } }, centerIndex: [1, 2, 3], outline,
  });
  const row = (outline?: 'detector') => candidateRow({ rank: 1, score: 0.95, calibrated: true, result: result(outline), click: {} } as unknown as CandidateRow, {} as AbusTumorService) as unknown as FakeElement;
  const outlined = row('detector');
  expect(outlined.find('abus-detector-outline')).toHaveLength(1);
  expect(outlined.find('abus-detector-outline')[0].textContent).toMatch(/detector.*no verdict/);
  expect(outlined.attributes.get('data-verdict')).toBe('');
  expect(outlined.find('abus-candidate-score')[0].textContent).not.toMatch(/Suspicious|benign|Indeterminate/);
  const analysed = row();
  expect(analysed.find('abus-detector-outline')).toHaveLength(0);
  expect(analysed.find('abus-candidate-score')[0].textContent).toMatch(/Suspicious for malignancy/);
});
