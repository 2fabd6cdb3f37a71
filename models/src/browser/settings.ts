/** The plugin's settings: one key, `abusTumorAI`, in OHIF's app-config.js (written by abus-ai install-ohif). */
export interface AbusSettings {
  weightsUrl: string;
  backend: 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  decisionThreshold: number;
  segFlavour: 'binary' | 'labelmap';
  exportTarget: 'dicomweb' | 'download';
}
