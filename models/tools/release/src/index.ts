/** @abus-tumor-ai/release: the browser bundles (npm run build) and the release tarball (npm run release). */
export { bundleBrowser } from './browser-bundle';
export { release } from './release';
