/**
 * A PNG of three orthogonal planes through the main lesion's centre (or the click, for a case
 * with no lesion), side by side, at square display pixels so physical proportions hold:
 *   coronal    (i across, k down) at the lesion's depth: the plane ABUS readers review;
 *   transverse (i across, j down): the B-mode image, depth downward;
 *   sagittal   (k across, j down).
 * The mask's outline is drawn in red (malignant) or green (benign), the click as a yellow cross.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { Vec3 } from '@abus-tumor-ai/engine';
import { Phantom } from './generate';
import { writeAtomic } from '../atomic';

// Bound once: inside jest's vm sandbox every `Math.` lookup is slow, and these run per voxel.
const { abs, floor, hypot, max, min, round } = Math;

export interface PreviewOptions {
  /** Display pixel size (mm). Default 0.25. */
  pixelMm?: number;
  /** Voxel the three planes pass through; default the main lesion's centre, else the click. */
  center?: Vec3;
}

type Rgb = [number, number, number];
const MALIGNANT: Rgb = [255, 50, 40];
const BENIGN: Rgb = [40, 235, 60];
const CLICK: Rgb = [255, 220, 0];
const GAP = 6;

interface Panel {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export function renderPreview(phantom: Phantom, options: PreviewOptions = {}): Uint8Array {
  const pixelMm = options.pixelMm ?? 0.25;
  const centre = options.center ?? phantom.lesions[0]?.centerIndex ?? phantom.clickCenter;
  const planes: [number, number, number][] = [
    [1, 0, 2], // coronal: fixed j; i across, k down
    [2, 0, 1], // transverse: fixed k; i across, j down
    [0, 2, 1], // sagittal: fixed i; k across, j down
  ];
  const panels = planes.map(([fixed, h, v]) => panel(phantom, centre, fixed, h, v, pixelMm));
  const width = panels.reduce((w, p) => w + p.width, 0) + GAP * (panels.length - 1);
  const height = max(...panels.map((p) => p.height));
  const png = new PNG({ width, height });
  png.data.fill(30);
  let x0 = 0;
  for (const p of panels) {
    for (let y = 0; y < p.height; y++) {
      for (let x = 0; x < p.width; x++) {
        const src = 3 * (y * p.width + x);
        const dst = 4 * (y * width + x0 + x);
        png.data[dst] = p.rgb[src];
        png.data[dst + 1] = p.rgb[src + 1];
        png.data[dst + 2] = p.rgb[src + 2];
      }
    }
    x0 += p.width + GAP;
  }
  for (let n = 3; n < png.data.length; n += 4) png.data[n] = 255;
  return new Uint8Array(PNG.sync.write(png));
}

export function writePreview(file: string, phantom: Phantom, options: PreviewOptions = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeAtomic(file, renderPreview(phantom, options));
}

/** One plane: `fixed` axis at the centre, `h` across and `v` down, resampled to pixelMm. */
function panel(ph: Phantom, centre: Vec3, fixed: number, h: number, v: number, pixelMm: number): Panel {
  const { dims, spacing, data } = ph.volume;
  const mask = ph.mask.data;
  const width = floor(((dims[h] - 1) * spacing[h]) / pixelMm) + 1;
  const height = floor(((dims[v] - 1) * spacing[v]) / pixelMm) + 1;
  const stride: Vec3 = [1, dims[0], dims[0] * dims[1]];
  const base = centre[fixed] * stride[fixed];
  const rgb = new Uint8Array(3 * width * height);
  const inMask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const fv = min(dims[v] - 1, (y * pixelMm) / spacing[v]);
    const v0 = min(dims[v] - 2, floor(fv));
    const tv = fv - v0;
    for (let x = 0; x < width; x++) {
      const fh = min(dims[h] - 1, (x * pixelMm) / spacing[h]);
      const h0 = min(dims[h] - 2, floor(fh));
      const th = fh - h0;
      // Bilinear in the plane for the image, nearest for the mask.
      const a = base + h0 * stride[h] + v0 * stride[v];
      const top = data[a] + (data[a + stride[h]] - data[a]) * th;
      const bottom = data[a + stride[v]] + (data[a + stride[h] + stride[v]] - data[a + stride[v]]) * th;
      const grey = round(top + (bottom - top) * tv);
      rgb.fill(grey, 3 * (y * width + x), 3 * (y * width + x) + 3);
      inMask[y * width + x] = mask[base + round(fh) * stride[h] + round(fv) * stride[v]];
    }
  }
  // Outline: mask pixels with a 4-neighbour outside the mask, coloured by the nearest lesion.
  const mmOf = (x: number, y: number): Vec3 => {
    const p: Vec3 = [0, 0, 0];
    p[fixed] = centre[fixed] * spacing[fixed];
    p[h] = x * pixelMm;
    p[v] = y * pixelMm;
    return p;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!inMask[y * width + x]) continue;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !inMask[y * width + x - 1] || !inMask[y * width + x + 1] || !inMask[(y - 1) * width + x] || !inMask[(y + 1) * width + x];
      if (edge) rgb.set(colourAt(ph, mmOf(x, y)), 3 * (y * width + x));
    }
  }
  // The click, projected onto the plane.
  const cx = round((ph.clickCenter[h] * spacing[h]) / pixelMm);
  const cy = round((ph.clickCenter[v] * spacing[v]) / pixelMm);
  for (let d = -6; d <= 6; d++) {
    if (abs(d) < 2) continue;
    for (const [x, y] of [[cx + d, cy], [cx, cy + d]]) {
      if (x >= 0 && y >= 0 && x < width && y < height) rgb.set(CLICK, 3 * (y * width + x));
    }
  }
  return { width, height, rgb };
}

function colourAt(ph: Phantom, mm: Vec3): Rgb {
  let best = ph.lesions[0];
  let bestD = Infinity;
  for (const l of ph.lesions) {
    const d = hypot(...l.centerMm.map((c, n) => c - mm[n]));
    if (d < bestD) [best, bestD] = [l, d];
  }
  return best?.malignant ? MALIGNANT : BENIGN;
}
