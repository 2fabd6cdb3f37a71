/**
 * The "ABUS Tumor AI" panel. It loads the model once in the analysis worker (checksums verified)
 * and says which backend runs and why, what the model was trained on, and that it is for research
 * use only.
 */
import { EngineWorker } from '../../models/src/browser/engine-client';
import { AbusSettings, pluginBaseUrl } from './settings';

export interface PanelState {
  status: 'loading' | 'ready' | 'error';
  message: string;
  engine?: EngineWorker;
}

const state: PanelState = { status: 'loading', message: 'Loading the model…' };
let loading: Promise<void> | undefined;
const listeners = new Set<() => void>();

function update(next: Partial<PanelState>): void {
  Object.assign(state, next);
  listeners.forEach((l) => l());
}

export function loadEngine(settings: AbusSettings, moduleUrl: string): Promise<void> {
  loading ??= (async () => {
    try {
      const base = pluginBaseUrl(moduleUrl);
      const engine = new EngineWorker(new Worker(new URL('abus-worker.js', base)));
      await engine.init(settings.weightsUrl, settings.backend, base);
      const card = engine.card!;
      update({
        status: 'ready',
        engine,
        message: `Model ${card.name} ${card.version}, trained on ${String(card.training.data ?? 'see the model card')}. Backend: ${engine.backend!.reason}.`,
      });
    } catch (err) {
      update({ status: 'error', message: `The model could not be loaded: ${(err as Error).message}` });
    }
  })();
  return loading;
}

export function mountPanel(host: HTMLElement, settings: AbusSettings, moduleUrl: string): () => void {
  host.innerHTML = '';
  const root = document.createElement('div');
  root.style.cssText = 'padding:8px;color:#d0d8e8;font:13px sans-serif;line-height:1.4';
  const title = document.createElement('div');
  title.textContent = 'ABUS Tumor AI';
  title.style.cssText = 'font-size:15px;font-weight:600;margin-bottom:6px';
  const notice = document.createElement('div');
  notice.textContent = 'Research use only, not for clinical diagnosis.';
  notice.setAttribute('data-cy', 'abus-notice');
  notice.style.cssText = 'color:#f5a623;margin-bottom:8px';
  const status = document.createElement('div');
  status.setAttribute('data-cy', 'abus-status');
  root.append(title, notice, status);
  host.append(root);
  const render = () => {
    status.textContent = state.message;
    status.setAttribute('data-status', state.status);
    status.style.color = state.status === 'error' ? '#ff6b6b' : '';
  };
  listeners.add(render);
  render();
  void loadEngine(settings, moduleUrl);
  return () => listeners.delete(render);
}
