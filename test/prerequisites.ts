/**
 * Everything a test may need that `npm ci` does not bring, in one table, and the one gate that
 * tests go through: under CI=true a missing prerequisite fails the run and names it; otherwise the
 * tests that need it are skipped with the reason (printed once), and their beforeAll does not run.
 *
 * Each entry names the Debian package that provides it; test/system-packages.test.ts holds those
 * names to .ci/system-packages, the list .ci/run installs and the README shows.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Debian's interpreter, which has python3-torch; another python3 on the PATH may not see it. */
export const PYTHON = process.env.ABUS_PYTHON ?? '/usr/bin/python3';

export interface Prerequisite {
  /** The Debian packages that provide it (none for what the repository itself holds). */
  debian: string[];
  /** A file it is, when it is one (checked against `dpkg -S` where installed). */
  file?: string;
  /** A Python module Debian's python3 must import. */
  python?: string;
  /** Why it is missing here, or undefined. */
  missing(): string | undefined;
}

function fileAt(file: string, debian: string[]): Prerequisite & { file: string } {
  return { debian, file, missing: () => (fs.existsSync(file) ? undefined : `${file} is not installed (apt-get install ${debian.join(' ')})`) };
}

function pythonModule(module: string, debian: string[]): Prerequisite {
  let found: string | undefined | null = null;
  return {
    debian,
    python: module,
    missing() {
      if (found === null) {
        const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
        found = r.status === 0 ? undefined : `${module} is not importable by ${PYTHON} (${(r.stderr || String(r.error)).trim().split('\n').pop()}); apt-get install ${debian.join(' ')}`;
      }
      return found;
    },
  };
}

/** A tfjs backend, as test/probe-backends.js found it before the tests were collected. */
function backend(name: string, debian: string[]): Prerequisite {
  return {
    debian,
    missing() {
      const found = JSON.parse(process.env.ABUS_BACKENDS ?? '{}') as Record<string, string | null>;
      if (!(name in found)) return `backend ${name} was not probed (run the tests through jest.config.js)`;
      return found[name] ? `tfjs backend ${name} cannot start here: ${found[name]}` : undefined;
    },
  };
}

const SHIPPED_MODEL = path.join(__dirname, '..', 'models', 'weights', 'cmsvnetiter', 'model.json');
const BUILT_PLUGIN = path.join(__dirname, '..', 'extension', 'dist', 'abus-tumor-ai', 'extension.js');

export const PREREQUISITES = {
  chromium: fileAt('/usr/bin/chromium', ['chromium']),
  orthanc: fileAt('/usr/sbin/Orthanc', ['orthanc']),
  'orthanc-dicomweb': fileAt('/usr/share/orthanc/plugins/libOrthancDicomWeb.so', ['orthanc-dicomweb']),
  nginx: fileAt('/usr/sbin/nginx', ['nginx']),
  dciodvfy: fileAt('/usr/bin/dciodvfy', ['dicom3tools']),
  dsrdump: fileAt('/usr/bin/dsrdump', ['dcmtk']),
  torch: pythonModule('torch', ['python3-torch']),
  numpy: pythonModule('numpy', ['python3-numpy']),
  cpu: backend('cpu', []),
  wasm: backend('wasm', []),
  /** Dawn on SwiftShader: Chromium's Vulkan driver through the system's Vulkan loader. */
  webgpu: backend('webgpu', ['chromium', 'libvulkan1']),
  'shipped model': {
    debian: [],
    file: SHIPPED_MODEL,
    missing: () => (fs.existsSync(SHIPPED_MODEL) ? undefined : `no shipped model at ${SHIPPED_MODEL}`),
  },
  /** The plugin as `npm run build` leaves it (npm test builds it first): what a release tarball is made of. */
  'built plugin': {
    debian: [],
    file: BUILT_PLUGIN,
    missing: () => (fs.existsSync(BUILT_PLUGIN) ? undefined : `the plugin is not built (${BUILT_PLUGIN}); run npm run build`),
  },
} satisfies Record<string, Prerequisite>;

export type PrerequisiteName = keyof typeof PREREQUISITES;

/** Why the first missing one of these is missing, or undefined; fails under CI=true. */
export function missing(...names: PrerequisiteName[]): string | undefined {
  for (const name of names) {
    const why = PREREQUISITES[name].missing();
    if (why && process.env.CI === 'true') throw new Error(`CI needs ${name}: ${why}`);
    if (why) return why;
  }
  return undefined;
}

export interface Gate {
  /** Why the tests are skipped, or undefined. */
  skip: string | undefined;
  it: typeof test;
  describe: typeof describe;
  beforeAll: typeof beforeAll;
  /** A title with the reason it is skipped, where it is. */
  title(title: string): string;
}

/** The test functions for tests that need these prerequisites (see the file's comment). */
export function prerequisites(names: PrerequisiteName[], tests: string): Gate {
  const skip = missing(...names);
  if (skip) console.warn(`SKIP ${tests}: ${skip}`);
  return {
    skip,
    it: skip ? test.skip : test,
    describe: skip ? describe.skip : describe,
    beforeAll: skip ? () => undefined : beforeAll,
    title: (title) => (skip ? `${title} (skipped: ${skip})` : title),
  };
}
