/** Headless Debian Chromium with WebGPU (SwiftShader where there is no GPU), driven by playwright-core. */
import type { Browser } from 'playwright-core';
import { PREREQUISITES } from '../prerequisites';

export const CHROMIUM = PREREQUISITES.chromium.file;

export async function launchChromium(options: { webgpu?: boolean } = {}): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const args = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  // playwright gives every launch a fresh temporary profile, so no --user-data-dir is passed.
  if (options.webgpu !== false) args.push('--enable-unsafe-webgpu');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
