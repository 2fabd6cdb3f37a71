/**
 * The "ABUS Tumor AI" panel: the state service's state, drawn with the DOM (see island.ts), made
 * to be read at a glance: one short status line (details on hover), the actions, a card per
 * lesion, the newest first, with its verdict, its probability as a bar against the operating
 * points, its size, and go-to and remove; then the lesions "Find lesions" proposes (accept or
 * reject each). The research-use notice is shown once.
 */
import { rangeText } from '@abus-tumor-ai/engine';
import type { LesionRecord } from './analysis';
import { AbusTumorService, CandidateRow } from './service';

const COLOURS = { 'Likely benign': '#3cb44b', Indeterminate: '#f0be28', 'Suspicious for malignancy': '#dc322f' } as const;

function button(text: string, cy: string, onClick: () => void, small = false): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = text;
  b.setAttribute('data-cy', cy);
  b.style.cssText = `margin:2px 4px 2px 0;padding:${small ? '1px 6px' : '3px 8px'};background:#1f6feb;color:white;border:0;border-radius:4px;cursor:pointer;font-size:${small ? 11 : 12}px`;
  b.onclick = (e) => {
    e.stopPropagation();
    onClick();
  };
  return b;
}

function div(text: string, css = ''): HTMLDivElement {
  const d = document.createElement('div');
  d.textContent = text;
  if (css) d.style.cssText = css;
  return d;
}

/** What the two ticks mean, on hover (the card's operating points, see the engine's verdict.ts). */
export function operatingPointsTip(points: { ruleOut: number; ruleIn: number }): string {
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  return `Rule-out ${pct(points.ruleOut)}: below it, "Likely benign" (on validation, 95% of cancers scored above it). ` +
    `Rule-in ${pct(points.ruleIn)}: above it, "Suspicious for malignancy" (on validation, 90% of benign lesions scored below it). ` +
    'Between them, or when the range of P over the network\'s views crosses one: "Indeterminate".';
}

/**
 * P(malignant) as a bar, the range of P over the network's views as a lighter band, and the
 * card's rule-out and rule-in thresholds as labelled ticks.
 */
export function probabilityBar(p: number, colour: string, points?: { ruleOut: number; ruleIn: number }, range?: [number, number] | null): HTMLElement {
  const wrap = document.createElement('div');
  const bar = document.createElement('div');
  bar.setAttribute('data-cy', 'abus-probability-bar');
  bar.style.cssText = 'position:relative;height:8px;background:#2b3a55;border-radius:4px;margin:3px 0';
  const fill = document.createElement('div');
  fill.style.cssText = `position:absolute;left:0;top:0;bottom:0;width:${(100 * p).toFixed(1)}%;background:${colour};border-radius:4px`;
  bar.append(fill);
  if (range && range[1] > range[0]) {
    const band = document.createElement('div');
    band.setAttribute('data-cy', 'abus-probability-range');
    band.style.cssText = `position:absolute;left:${(100 * range[0]).toFixed(1)}%;width:${(100 * (range[1] - range[0])).toFixed(1)}%;top:2px;bottom:2px;background:rgba(255,255,255,0.45)`;
    bar.append(band);
  }
  wrap.append(bar);
  if (!points) return wrap;
  const labels = document.createElement('div');
  labels.setAttribute('data-cy', 'abus-operating-points');
  labels.title = operatingPointsTip(points);
  labels.style.cssText = 'position:relative;height:13px;font-size:10px;color:#8fa3c0;cursor:help';
  for (const [name, t] of [['rule-out', points.ruleOut], ['rule-in', points.ruleIn]] as const) {
    const tick = document.createElement('div');
    tick.style.cssText = `position:absolute;left:${(100 * t).toFixed(1)}%;top:-2px;bottom:-2px;width:2px;background:#d0d8e8`;
    bar.append(tick);
    const text = div(`${name} ${Math.round(t * 100)}%`, `position:absolute;left:${(100 * t).toFixed(1)}%;transform:translateX(-50%);white-space:nowrap`);
    text.setAttribute('data-cy', `abus-${name}`);
    labels.append(text);
  }
  bar.title = labels.title;
  wrap.append(labels);
  return wrap;
}

function resultCard(record: LesionRecord, service: AbusTumorService): HTMLElement {
  const r = record.result;
  const card = document.createElement('div');
  card.setAttribute('data-cy', 'abus-result');
  card.setAttribute('data-number', String(record.number));
  card.setAttribute('data-point-mm', record.pointMm.join(','));
  card.setAttribute('data-probability', String(r.probability));
  card.setAttribute('data-probability-range', r.probabilityRange?.join(',') ?? '');
  card.setAttribute('data-verdict', r.verdict ?? '');
  card.setAttribute('data-voxels', String(r.lesion.voxelCount));
  card.setAttribute('data-center-index', r.centerIndex.join(','));
  card.setAttribute('data-click-index', r.clickIndex.join(','));
  card.style.cssText = 'border-top:1px solid #2b3a55;padding:5px 0';
  const colour = r.verdict ? COLOURS[r.verdict] : '#8fa3c0';
  const head = document.createElement('div');
  head.style.cssText = 'display:flex;justify-content:space-between;align-items:center';
  const title = div(`Lesion ${record.number}${r.verdict ? `: ${r.verdict}` : ''}`, `font-weight:600;color:${colour}`);
  const actions = document.createElement('div');
  actions.append(button('Go to', 'abus-goto', () => service.jumpToLesion(record.number), true));
  actions.append(button('Remove', 'abus-remove', () => service.removeLesion(record.number), true));
  head.append(title, actions);
  card.append(head);
  if (r.probability !== null) {
    const range = rangeText(r.probabilityRange);
    const p = div(`P(malignant) ${(r.probability * 100).toFixed(1)}%${range ? ` · range ${range} over ${r.views} views` : ''}`);
    p.setAttribute('data-cy', 'abus-probability');
    if (range) p.title = 'The network saw the lesion from several views (mirrored); their P(malignant) spans this range. A range across a threshold makes the verdict "Indeterminate".';
    card.append(p, probabilityBar(r.probability, colour, service.state.engine?.card.operatingPoints, r.probabilityRange));
  }
  if (r.outline === 'detector') card.append(outlineNote());
  const side = record.laterality?.side ? `${record.laterality.side === 'L' ? 'left' : 'right'} breast` : 'laterality unknown';
  card.append(div(`${r.size.volumeMl.toFixed(2)} mL · longest ${r.size.longestMm.toFixed(1)} mm · ${side}`, 'color:#a9b8d0'));
  for (const note of record.assumedGeometry) card.append(div(`Geometry assumed: ${note}`, 'color:#8fa3c0;font-size:11px'));
  card.title = `${r.lesion.voxelCount} voxels, ${r.backend}, ${(r.timingsMs.total / 1000).toFixed(1)} s; extent ${r.size.extentMm.lateral.toFixed(1)} x ${r.size.extentMm.depth.toFixed(1)} x ${r.size.extentMm.sweep.toFixed(1)} mm`;
  return card;
}

/** Said of a proposal outlined by the scan's detector alone: why it has no verdict, and what its outline is. */
function outlineNote(): HTMLElement {
  const note = div('Outlined by the detector (2 mm cells): the click analysis found no lesion here, or only a small part of one, so no verdict', 'color:#f5a623;font-size:11px');
  note.setAttribute('data-cy', 'abus-detector-outline');
  note.title = 'Find lesions\' detector marked this place surely, but the click analysis answered "no lesion" there, or segmented a small part of what the detector marked. Its outline is the detector\'s coarse one, and there is no P(malignant). Click the mass to analyse it again.';
  return note;
}

/**
 * One "Find lesions" proposal: its rank and detection score, verdict and size, go-to, accept,
 * reject; or, on a lesion already marked, that lesion's name and go-to alone.
 */
export function candidateRow(row: CandidateRow, service: AbusTumorService): HTMLElement {
  const r = row.result;
  const el = document.createElement('div');
  if (row.marked !== undefined) {
    el.setAttribute('data-cy', 'abus-candidate-marked');
    el.setAttribute('data-number', String(row.marked));
    el.style.cssText = 'border-top:1px dashed #2b3a55;padding:4px 0;color:#8fa3c0';
    el.append(div(`Lesion ${row.marked} (already marked)`), button('Go to', 'abus-candidate-goto', () => service.jumpToLesion(row.marked!), true));
    return el;
  }
  el.setAttribute('data-cy', 'abus-candidate');
  el.setAttribute('data-rank', String(row.rank));
  el.setAttribute('data-score', String(row.score));
  el.setAttribute('data-center-index', r.centerIndex.join(','));
  el.setAttribute('data-verdict', r.verdict ?? '');
  el.setAttribute('data-probability', String(r.probability));
  el.style.cssText = 'border-top:1px dashed #2b3a55;padding:4px 0';
  const colour = r.verdict ? COLOURS[r.verdict] : '#8fa3c0';
  const score = div(`#${row.rank} · ${row.calibrated ? 'lesion' : 'detection'} ${(row.score * 100).toFixed(0)}%${r.verdict ? ` · ${r.verdict}` : ''}`, `color:${colour};font-weight:600`);
  score.setAttribute('data-cy', 'abus-candidate-score');
  if (row.calibrated) score.title = `Of the proposals with this detection score on the validation phantoms, ${(row.score * 100).toFixed(0)}% were lesions (synthetic phantoms; research use, not for clinical diagnosis). Not P(malignant).`;
  el.append(score);
  const range = rangeText(r.probabilityRange);
  const probability = r.probability === null ? '' : ` · P(malignant) ${(r.probability * 100).toFixed(1)}%${range ? ` (${range})` : ''}`;
  el.append(div(`${r.size.volumeMl.toFixed(2)} mL · longest ${r.size.longestMm.toFixed(1)} mm${probability}`, 'color:#a9b8d0'));
  if (r.outline === 'detector') el.append(outlineNote());
  el.append(
    button('Go to', 'abus-candidate-goto', () => service.goToCandidate(row.rank), true),
    button('Accept', 'abus-accept', () => void service.acceptCandidate(row.rank), true),
    button('Reject', 'abus-reject', () => service.rejectCandidate(row.rank), true),
  );
  return el;
}

/**
 * A backend message split into its first clause, for one line, and the whole message, for the
 * "why" toggle: "Not on WebGPU: running on wasm, because webgpu: ...; webgl: ..." gives
 * "Not on WebGPU: running on wasm".
 */
export function fallbackNote(message: string): { line: string; why: string } {
  const cut = message.search(/, because |\s\(|; /);
  const line = (cut > 0 ? message.slice(0, cut) : message).replace(/\.$/, '');
  return { line, why: message };
}

export function mountPanel(host: HTMLElement, service: AbusTumorService): () => void {
  const state = service.state;
  host.innerHTML = '';
  const root = document.createElement('div');
  root.style.cssText = 'padding:6px 8px;color:#d0d8e8;font:12px sans-serif;line-height:1.35';
  root.setAttribute('data-cy', 'abus-panel');
  const title = div('ABUS Tumor AI', 'font-size:14px;font-weight:600');
  const notice = div('Research use only, not for clinical diagnosis. Trained on synthetic phantoms.', 'color:#f5a623;font-size:11px;margin-bottom:4px');
  notice.setAttribute('data-cy', 'abus-notice');
  const status = div('');
  status.setAttribute('data-cy', 'abus-status');
  // One line on why this is not WebGPU; the reasons (each backend tried, the kernels) behind a
  // "why" toggle: a reader needs the result first, an imaging team the reasons.
  const fallback = document.createElement('details');
  fallback.setAttribute('data-cy', 'abus-fallback');
  fallback.style.cssText = 'color:#f5a623;font-size:11px';
  const fallbackLine = document.createElement('summary');
  fallbackLine.setAttribute('data-cy', 'abus-fallback-line');
  fallbackLine.style.cssText = 'cursor:pointer';
  const fallbackWhy = div('', 'color:#c8a060;margin:2px 0 2px 12px');
  fallbackWhy.setAttribute('data-cy', 'abus-fallback-why');
  fallback.append(fallbackLine, fallbackWhy);
  const outcome = div('', 'margin-top:3px');
  outcome.setAttribute('data-cy', 'abus-outcome');
  const pick = button('ABUS tumor tool', 'abus-pick', () => service.activateTool());
  const atCrosshair = button('Analyze at crosshair', 'abus-analyze-crosshair', () => void service.analyzeAtCrosshair());
  const find = button('Find lesions', 'abus-find', () => void service.findLesions());
  const cancel = button('Cancel', 'abus-cancel', () => service.cancelAnalysis());
  const exportButton = button('Export SEG + SR', 'abus-export', () => void service.exportResults());
  const candidates = document.createElement('div');
  candidates.setAttribute('data-cy', 'abus-candidates');
  candidates.style.cssText = 'margin-top:4px';
  const results = document.createElement('div');
  results.style.cssText = 'margin-top:4px';
  const hint = div('Choose the ABUS tumor tool, then click a mass in any view, or let Find lesions scan the whole series.', 'color:#8fa3c0;margin-top:3px');
  // The newest result first and above Find lesions' proposals: on a laptop screen with proposals
  // pending, the result just made and Export stay in view, above OHIF's investigational-use banner.
  root.append(title, notice, status, fallback, pick, atCrosshair, find, cancel, exportButton, outcome, results, candidates, hint);
  host.append(root);
  let drawn: { lesions: LesionRecord[]; candidates: CandidateRow[] } | undefined;
  const render = () => {
    status.textContent = state.message;
    status.title = state.detail ?? '';
    status.setAttribute('data-status', state.status);
    status.style.color = state.status === 'error' ? '#ff6b6b' : '';
    const note = state.fallback ? fallbackNote(state.fallback) : undefined;
    fallback.style.display = note ? '' : 'none';
    fallbackLine.textContent = note ? `${note.line} (why)` : '';
    fallbackWhy.textContent = note?.why ?? '';
    outcome.textContent = state.outcome ?? '';
    outcome.setAttribute('data-outcome', state.outcomeKind ?? '');
    outcome.style.color = state.outcomeKind === 'error' ? '#ff6b6b' : '';
    cancel.style.display = state.status === 'running' ? '' : 'none';
    exportButton.style.display = state.lesions.length && state.status === 'ready' ? '' : 'none';
    hint.style.display = state.lesions.length ? 'none' : '';
    root.setAttribute('data-exported-seg', state.exported?.seg ?? '');
    root.setAttribute('data-exported-sr', state.exported?.sr ?? '');
    // Progress updates come once per loaded slice during an analysis; the cards change only with
    // the list, so they are rebuilt only then (main-thread time counts while an analysis runs).
    if (drawn?.lesions !== state.lesions) results.replaceChildren(...[...state.lesions].reverse().map((r) => resultCard(r, service)));
    if (drawn?.candidates !== state.candidates) {
      const heading = state.candidates.length ? [div('Proposed by Find lesions (not yet lesions):', 'color:#8fa3c0;margin-top:2px')] : [];
      candidates.replaceChildren(...heading, ...state.candidates.map((c) => candidateRow(c, service)));
    }
    drawn = { lesions: state.lesions, candidates: state.candidates };
    // Accept writes into the viewer, one at a time (see AbusTumorService.acceptCandidate).
    for (const b of [pick, atCrosshair, find, ...candidates.querySelectorAll<HTMLButtonElement>('[data-cy="abus-accept"]')]) {
      b.disabled = state.status !== 'ready';
      b.style.opacity = b.disabled ? '0.5' : '1';
    }
  };
  const subscription = service.subscribe(AbusTumorService.EVENTS.STATE_CHANGED, render);
  render();
  void service.loadEngine();
  return subscription.unsubscribe;
}
