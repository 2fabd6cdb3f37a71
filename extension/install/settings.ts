/** The plugin's settings: one key, `abusTumorAI`, in OHIF's app-config.js (written by abus-ai install-ohif). */
export interface AbusSettings {
  weightsUrl: string;
  backend: 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  segFlavour: 'binary' | 'labelmap';
  exportTarget: 'dicomweb' | 'download';
  /**
   * Where the worker, wasm binaries and weights are served. Defaults to beside the extension
   * module (the runtime install); a build-time install, where OHIF's bundler moves the module,
   * sets it to the folder it copied them to.
   */
  assetsUrl?: string;
  /**
   * The distance between a sweep's frames (mm) where the file states none (a GE Invenia-style
   * multi-frame sweep); the engine's default (0.5 mm) where unset. Always said in the panel.
   */
  sweepSpacingMm?: number;
  /**
   * tfjs-wasm threads, where the page is cross-origin isolated (COOP/COEP); unset: tfjs's choice,
   * one per two logical cores. Elsewhere wasm runs one thread whatever this says.
   */
  wasmThreads?: number;
  /**
   * The demo's lesion (abus-ai viewer on its generated study): a dashed ring labelled with `label`
   * at `centreMm` (patient mm) in every view whose slice passes within `radiusMm` of it, so the
   * terminal's hint can say "the ring on image I:n" in terms OHIF shows.
   */
  demoLesion?: { centreMm: [number, number, number]; radiusMm: number; label: string };
}
