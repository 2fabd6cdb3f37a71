/**
 * The "ABUS Tumor AI" panel: the state service's state, drawn with the DOM (see island.ts), and
 * buttons for its actions. The research-use notice is always shown.
 */
import type { LesionRecord } from './analysis';
import { AbusTumorService } from './service';

function button(text: string, cy: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = text;
  b.setAttribute('data-cy', cy);
  b.style.cssText = 'margin:4px 6px 4px 0;padding:3px 9px;background:#1f6feb;color:white;border:0;border-radius:4px;cursor:pointer';
  b.onclick = (e) => {
    e.stopPropagation();
    onClick();
  };
  return b;
}

function resultRow(record: LesionRecord, service: AbusTumorService): HTMLElement {
  const r = record.result;
  const row = document.createElement('div');
  row.setAttribute('data-cy', 'abus-result');
  row.setAttribute('data-point-mm', record.pointMm.join(','));
  row.setAttribute('data-probability', String(r.probability));
  row.setAttribute('data-voxels', String(r.lesion.voxelCount));
  row.setAttribute('data-center-index', r.centerIndex.join(','));
  row.style.cssText = 'border-top:1px solid #2b3a55;padding:6px 0';
  const p = r.probability === null ? 'n/a' : `${(r.probability * 100).toFixed(1)}%`;
  const lines = [
    `Lesion ${record.number}: ${r.label === 'malignant' ? 'Malignant' : r.label === 'benign' ? 'Benign' : 'Lesion'}`,
    `P(malignant) ${p} (threshold ${Math.round(r.threshold * 100)}%)`,
    `${r.size.volumeMl.toFixed(2)} mL, longest ${r.size.longestMm.toFixed(1)} mm (${r.size.extentMm.lateral.toFixed(1)} x ${r.size.extentMm.depth.toFixed(1)} x ${r.size.extentMm.sweep.toFixed(1)} mm)`,
    `${r.lesion.voxelCount} voxels, ${r.backend}, ${(r.timingsMs.total / 1000).toFixed(1)} s`,
    ...record.assumedGeometry.map((a) => `Geometry assumed: ${a}`),
  ];
  for (const text of lines) {
    const line = document.createElement('div');
    line.textContent = text;
    row.append(line);
  }
  row.firstElementChild?.setAttribute('style', 'font-weight:600');
  row.title = 'Show this lesion';
  row.style.cursor = 'pointer';
  row.onclick = () => service.jumpToLesion(record.number);
  row.append(button('Remove', 'abus-remove', () => service.removeLesion(record.number)));
  return row;
}

export function mountPanel(host: HTMLElement, service: AbusTumorService): () => void {
  const state = service.state;
  host.innerHTML = '';
  const root = document.createElement('div');
  root.style.cssText = 'padding:8px;color:#d0d8e8;font:13px sans-serif;line-height:1.4';
  root.setAttribute('data-cy', 'abus-panel');
  const title = document.createElement('div');
  title.textContent = 'ABUS Tumor AI';
  title.style.cssText = 'font-size:15px;font-weight:600;margin-bottom:6px';
  const notice = document.createElement('div');
  notice.textContent = 'Research use only, not for clinical diagnosis.';
  notice.setAttribute('data-cy', 'abus-notice');
  notice.style.cssText = 'color:#f5a623;margin-bottom:8px';
  const status = document.createElement('div');
  status.setAttribute('data-cy', 'abus-status');
  const fallback = document.createElement('div');
  fallback.setAttribute('data-cy', 'abus-fallback');
  fallback.style.cssText = 'color:#f5a623;margin-top:4px';
  const hint = document.createElement('div');
  hint.textContent = 'Choose the ABUS tumor tool, then click a mass in any view.';
  hint.style.cssText = 'color:#8fa3c0;margin-top:4px';
  const pick = button('ABUS tumor tool', 'abus-pick', () => service.activateTool());
  const atCrosshair = button('Analyze at crosshair', 'abus-analyze-crosshair', () => void service.analyzeAtCrosshair());
  const cancel = button('Cancel', 'abus-cancel', () => service.cancelAnalysis());
  const exportButton = button('Export SEG + SR', 'abus-export', () => void service.exportResults());
  const results = document.createElement('div');
  root.append(title, notice, status, fallback, hint, pick, atCrosshair, cancel, exportButton, results);
  host.append(root);
  let drawnLesions: LesionRecord[] | undefined;
  const render = () => {
    status.textContent = state.message;
    status.setAttribute('data-status', state.status);
    status.style.color = state.status === 'error' ? '#ff6b6b' : '';
    fallback.textContent = state.fallback ?? '';
    for (const b of [pick, atCrosshair]) {
      b.disabled = state.status !== 'ready';
      b.style.opacity = b.disabled ? '0.5' : '1';
    }
    cancel.style.display = state.status === 'running' ? '' : 'none';
    exportButton.style.display = state.lesions.length && state.status === 'ready' ? '' : 'none';
    root.setAttribute('data-exported-seg', state.exported?.seg ?? '');
    root.setAttribute('data-exported-sr', state.exported?.sr ?? '');
    // Progress updates come once per loaded slice during an analysis; the rows change only with
    // the list, so they are rebuilt only then (main-thread time counts while an analysis runs).
    if (drawnLesions !== state.lesions) {
      drawnLesions = state.lesions;
      results.replaceChildren(...state.lesions.map((r) => resultRow(r, service)));
    }
  };
  const subscription = service.subscribe(AbusTumorService.EVENTS.STATE_CHANGED, render);
  render();
  void service.loadEngine();
  return subscription.unsubscribe;
}
