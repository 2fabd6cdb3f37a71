/**
 * Picks the TensorFlow.js backend: webgpu, then webgl, wasm, cpu, unless one is forced.
 * Each backend package is loaded only when tried, because tfjs-backend-webgpu registers
 * itself only if navigator.gpu exists at import time, and webgl needs a canvas.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export const BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

export interface BackendChoice {
  backend: BackendName;
  /** One line a person can read: which backend runs and why the ones before it did not. */
  reason: string;
  skipped: { backend: BackendName; why: string }[];
}

/** Where the wasm binaries live; a browser bundle sets a URL, Node uses the package's dist folder. */
let wasmPath: string | undefined;
export function setWasmPath(path: string): void {
  wasmPath = path;
}

function nodeWasmDir(): string | undefined {
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const path = require('path') as typeof import('path');
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string };
}

function adapterName(adapter: AdapterLike): string {
  const marked = (globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU;
  if (marked) return marked;
  const info = adapter.info ?? {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown';
}

/** SwiftShader (Chromium's and Dawn's CPU fallback) proves correctness, not speed. */
function isSoftwareAdapter(adapter: AdapterLike): boolean {
  // Dawn in Node reports no adapter info; the Node installer marks SwiftShader itself.
  if ((globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU) return true;
  return Boolean(adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(adapterName(adapter));
}

async function register(name: BackendName, forced: boolean): Promise<string | undefined> {
  if (tf.findBackendFactory(name)) return undefined;
  switch (name) {
    case 'webgpu': {
      const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<AdapterLike | null> } } }).navigator;
      if (!nav?.gpu) return 'navigator.gpu is missing (no WebGPU in this browser or runtime)';
      const adapter = await nav.gpu.requestAdapter();
      if (!adapter) return 'navigator.gpu.requestAdapter() returned no adapter';
      if (!forced && isSoftwareAdapter(adapter)) return `only a software WebGPU adapter (${adapterName(adapter)}), which is slower than wasm on the CPU`;
      await import('@tensorflow/tfjs-backend-webgpu');
      return tf.findBackendFactory(name) ? undefined : 'tfjs-backend-webgpu did not register';
    }
    case 'webgl': {
      if (typeof document === 'undefined' && typeof OffscreenCanvas === 'undefined') return 'no canvas in this runtime';
      await import('@tensorflow/tfjs-backend-webgl');
      return undefined;
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dir = wasmPath ?? nodeWasmDir();
      if (dir) wasm.setWasmPaths(dir);
      return undefined;
    }
    case 'cpu':
      return undefined;
  }
}

/** Activates one backend; returns why it failed, or undefined on success. */
export async function tryBackend(name: BackendName, forced = true): Promise<string | undefined> {
  try {
    const missing = await register(name, forced);
    if (missing) return missing;
    const ok = await tf.setBackend(name);
    if (!ok) return `tf.setBackend('${name}') failed`;
    await tf.ready();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export async function chooseBackend(preferred?: BackendName | 'auto'): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  if (preferred && preferred !== 'auto') {
    const why = await tryBackend(preferred);
    if (why) throw new Error(`Backend '${preferred}' is not available: ${why}`);
    return { backend: preferred, reason: `${preferred} (forced)`, skipped };
  }
  for (const name of BACKEND_ORDER) {
    const why = await tryBackend(name, false);
    if (!why) {
      const reason = skipped.length
        ? `${name}, because ${skipped.map((s) => `${s.backend}: ${s.why}`).join('; ')}`
        : `${name} (first choice)`;
      return { backend: name, reason, skipped };
    }
    skipped.push({ backend: name, why });
  }
  throw new Error(`No TensorFlow.js backend could start: ${skipped.map((s) => `${s.backend}: ${s.why}`).join('; ')}`);
}

export function currentBackend(): BackendName {
  return tf.getBackend() as BackendName;
}
