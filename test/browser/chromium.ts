/** Headless Debian Chromium with WebGPU (SwiftShader where there is no GPU), driven by playwright-core. */
import * as fs from 'fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function chromiumMissing(): string | undefined {
  return fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`;
}

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
