/**
 * WebGPU for Node: installs navigator.gpu from Dawn (the `webgpu` npm package) so tfjs's
 * webgpu backend can run outside a browser. The package is ESM-only but its native addon is
 * not, so the addon is required directly. Without a GPU driver, Debian's chromium package
 * ships SwiftShader (a CPU Vulkan), which is used and marked as software.
 */
import * as fs from 'fs';
import * as path from 'path';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Mesa installs ICD files for Intel and AMD even on machines without those GPUs, and its
 * lavapipe is refused by Dawn, so only an NVIDIA ICD or VK_ICD_FILENAMES counts as a real driver;
 * elsewhere Dawn picks the GPU itself when SwiftShader is not forced.
 */
function hasHardwareVulkanDriver(): boolean {
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d'];
  return dirs.some((d) => fs.existsSync(d) && fs.readdirSync(d).some((f) => /nvidia/i.test(f)));
}

/** Returns why WebGPU could not be installed, or undefined on success. */
export function installNodeWebGPU(): string | undefined {
  const g = globalThis as { navigator?: { gpu?: unknown }; __abusSoftwareWebGPU?: string };
  if (g.navigator?.gpu) return undefined;
  if (!process.env.VK_ICD_FILENAMES && !hasHardwareVulkanDriver() && fs.existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  if (process.env.VK_ICD_FILENAMES?.includes('swiftshader')) g.__abusSoftwareWebGPU = 'SwiftShader';
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = require('os').tmpdir();
  try {
    const dir = path.dirname(require.resolve('webgpu/package.json'));
    const dawn = require(path.join(dir, 'dist', `${process.platform}-${process.arch}`, 'dawn.node'));
    Object.assign(globalThis, dawn.globals);
    g.navigator = { ...(g.navigator ?? {}), gpu: dawn.create([]) };
    return undefined;
  } catch (err) {
    return `Dawn (npm package webgpu) could not be loaded: ${(err as Error).message.split('\n')[0]}`;
  }
}
