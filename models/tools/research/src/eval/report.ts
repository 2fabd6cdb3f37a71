/** The paper's tables as Markdown, a per-lesion CSV, and the ROC curve as SVG and PNG. */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { RocPoint } from '../metrics';
import { LesionResult, Summary } from './evaluate';
import { writeAtomic } from '../atomic';

const f = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
// No spread is shown for a single value (its SD is NaN, see summarize): '± 0.000' would claim one.
const pm = (v: [number, number], d = 3) => (Number.isNaN(v[1]) ? f(v[0], d) : `${f(v[0], d)} ± ${f(v[1], d)}`);

export function markdownTable(rows: { name: string; summary: Summary }[]): string {
  const lines = [
    '| Model | n | DSC | JI | HD95 (mm) | DSC <= 1 cm³ | DSC > 1 cm³ | AUC | AUC (network alone) | ACC | REC | PRE | FPR | F1 |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { name, summary: s } of rows) {
    const seg = s.segmentation;
    const cls = s.classification;
    lines.push(
      [
        name,
        String(s.n),
        seg ? pm(seg.all.dsc) : '-',
        seg ? pm(seg.all.jaccard) : '-',
        seg ? pm(seg.all.hd95, 2) : '-',
        seg ? `${pm(seg.small.dsc)} (n=${seg.small.n})` : '-',
        seg ? `${pm(seg.large.dsc)} (n=${seg.large.n})` : '-',
        ...(cls ? [cls.auc, cls.networkAuc, cls.accuracy, cls.recall, cls.precision, cls.falsePositiveRate, cls.f1].map((v) => (v === null ? '-' : f(v))) : ['-', '-', '-', '-', '-', '-', '-']),
      ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
    );
  }
  return lines.join('\n') + '\n';
}

export function resultsCsv(results: LesionResult[]): string {
  const header = 'case_id,lesion,malignant,truth_ml,probability,network_probability,dsc,jaccard,hd95_mm,ms';
  const row = (r: LesionResult) => [r.caseId, r.lesion, r.malignant ? 1 : 0, r.truthMl.toFixed(4), r.probability ?? '', r.networkProbability ?? '', r.dsc ?? '', r.jaccard ?? '', r.hd95 ?? '', r.ms].join(',');
  return [header, ...results.map(row)].join('\n') + '\n';
}

export function rocSvg(curves: { name: string; roc: RocPoint[]; auc: number }[]): string {
  const size = 400;
  const pad = 50;
  const x = (fpr: number) => pad + fpr * (size - 2 * pad);
  const y = (tpr: number) => size - pad - tpr * (size - 2 * pad);
  const colours = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const paths = curves.map((c, i) => `<polyline fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${c.roc.map((p) => `${x(p.fpr).toFixed(1)},${y(p.tpr).toFixed(1)}`).join(' ')}"/>` +
    `<text x="${x(0.45)}" y="${y(0.25) + 16 * i}" font-size="12" fill="${colours[i % colours.length]}">${c.name}: AUC ${c.auc.toFixed(3)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<rect x="${pad}" y="${pad}" width="${size - 2 * pad}" height="${size - 2 * pad}" fill="none" stroke="black"/>
<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 4"/>
<text x="${size / 2}" y="${size - 15}" font-size="13" text-anchor="middle">False-positive rate</text>
<text x="15" y="${size / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 15 ${size / 2})">True-positive rate</text>
<text x="${size / 2}" y="30" font-size="14" text-anchor="middle">ROC, P(malignant) (research use, not for clinical diagnosis)</text>
${paths.join('\n')}
</svg>
`;
}

/** The same curve as a PNG (no text: the SVG beside it carries the labels). */
export function rocPng(roc: RocPoint[]): Buffer {
  const size = 300;
  const png = new PNG({ width: size, height: size });
  png.data.fill(255);
  const set = (px: number, py: number, rgb: [number, number, number]) => {
    if (px < 0 || py < 0 || px >= size || py >= size) return;
    const o = 4 * (py * size + px);
    png.data[o] = rgb[0];
    png.data[o + 1] = rgb[1];
    png.data[o + 2] = rgb[2];
  };
  const toPx = (fpr: number, tpr: number): [number, number] => [Math.round(20 + fpr * (size - 40)), Math.round(size - 20 - tpr * (size - 40))];
  const line = (a: [number, number], b: [number, number], rgb: [number, number, number]) => {
    const steps = Math.max(Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]), 1);
    for (let s = 0; s <= steps; s++) set(Math.round(a[0] + ((b[0] - a[0]) * s) / steps), Math.round(a[1] + ((b[1] - a[1]) * s) / steps), rgb);
  };
  const black: [number, number, number] = [0, 0, 0];
  line(toPx(0, 0), toPx(1, 0), black);
  line(toPx(0, 0), toPx(0, 1), black);
  line(toPx(0, 1), toPx(1, 1), black);
  line(toPx(1, 0), toPx(1, 1), black);
  line(toPx(0, 0), toPx(1, 1), [160, 160, 160]);
  for (let i = 1; i < roc.length; i++) {
    const a = toPx(roc[i - 1].fpr, roc[i - 1].tpr);
    const b = toPx(roc[i].fpr, roc[i].tpr);
    for (const d of [-1, 0, 1]) line([a[0] + d, a[1]], [b[0] + d, b[1]], [214, 39, 40]);
  }
  return PNG.sync.write(png);
}

export function writeReport(dir: string, rows: { name: string; summary: Summary; results: LesionResult[] }[]): void {
  fs.mkdirSync(dir, { recursive: true });
  const table = markdownTable(rows);
  writeAtomic(path.join(dir, 'table.md'), `Research use only, not for clinical diagnosis.\n\n${table}`);
  writeAtomic(path.join(dir, 'metrics.json'), JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, r.summary])), null, 2));
  for (const r of rows) writeAtomic(path.join(dir, `lesions-${r.name}.csv`), resultsCsv(r.results));
  const curves = rows.filter((r) => r.summary.classification).map((r) => ({ name: r.name, roc: r.summary.classification!.roc, auc: r.summary.classification!.auc }));
  if (curves.length) {
    writeAtomic(path.join(dir, 'roc.svg'), rocSvg(curves));
    writeAtomic(path.join(dir, 'roc.png'), rocPng(curves[curves.length - 1].roc));
  }
}
