/**
 * The bad-input table: ways to misuse every command (infer, detect, eval, calibrate, phantom,
 * install-ohif), each answered with an exit status and one first line that names what is wrong,
 * never a stack trace, never a hang, and never a changed or new file among the fixtures (every
 * file's SHA-256 is compared), and never more than 1 GB of memory (each case is a child process
 * whose peak resident memory is read as it exits), with a time limit per case.
 */
import { execFileSync, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as dcmjs from 'dcmjs';
import { IDENTITY_DIRECTION, Vec3, Volume, writeDicomSeries } from '@abus-tumor-ai/engine';
import { writeNrrd } from '@abus-tumor-ai/engine/node';
import { installIntoViewer, LOCK_FILE, PLUGIN_FOLDER } from '@abus-tumor-ai/extension/install';
import { main } from '@abus-tumor-ai/cli';
import { fakePlugin, fakeViewer } from './fixtures/fake-ohif';
import { writeUntrainedModel } from './fixtures/untrained-model';

const BIN = path.join(__dirname, '..', 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-bad-input-'));
const at = (...p: string[]) => path.join(dir, ...p);
/** A second folder for what a case may leave behind on purpose (never compared). */
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-bad-scratch-'));

interface Answer {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** main() in this process, with what it prints captured. */
async function inProcess(args: string[]): Promise<Answer> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  const write = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const status = await main(['node', 'abus-ai', ...args]);
    return { status, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

/** Loaded before the command line in a child: on exit, it says the process's peak resident memory. */
const PEAK_REPORTER = path.join(scratch, 'peak-rss.js');
fs.writeFileSync(PEAK_REPORTER, "process.on('exit', () => require('fs').writeSync(2, `\\nabus-test: peak RSS ${process.resourceUsage().maxRSS} kB\\n`));\n");
const PEAK = /\nabus-test: peak RSS (\d+) kB\n/;

/** The built command line as a child process, killed after `seconds`; with its peak memory (MB). */
function child(args: string[], seconds = 60): Answer & { peakMb?: number } {
  const r = spawnSync(process.execPath, ['--require', PEAK_REPORTER, BIN, ...args], { encoding: 'utf8', timeout: seconds * 1000, killSignal: 'SIGKILL' });
  const peak = PEAK.exec(r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.replace(PEAK, ''), peakMb: peak ? Number(peak[1]) / 1024 : undefined };
}

/** Every file under `root` with its SHA-256; special files by kind only (reading a FIFO would block). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = fs.lstatSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) out[p] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      else out[p] = s.isSymbolicLink() ? `link to ${fs.readlinkSync(p)}` : 'special';
    }
  };
  walk(root);
  return out;
}

function blobVolume(): Volume {
  const dims: Vec3 = [48, 32, 24];
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let i = 0; i < dims[0]; i++) {
        const r = Math.hypot((i - 24) * 0.5, (j - 16) * 0.3, (k - 12) * 0.8);
        data[i + dims[0] * (j + dims[1] * k)] = r < 4 ? 40 : 120 + ((i * 7 + j * 13 + k * 17) % 40);
      }
  return { dims, spacing: [0.5, 0.3, 0.8], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}

/** A uint8 NRRD with hand-written header lines, as other tools write them. */
function nrrdWithHeader(file: string, lines: string, data = Buffer.alloc(32 * 24 * 16).map((_, i) => (i * 7) % 200)): void {
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`NRRD0004\ntype: uint8\ndimension: 3\nsizes: 32 24 16\nencoding: raw\n${lines}\n\n`), data]));
}

/** One DICOM file with some attributes changed, through dcmjs. */
function editDicom(file: Uint8Array, fields: Record<string, unknown>): Uint8Array {
  const dict = dcmjs.data.DicomMessage.readFile(new Uint8Array(file).buffer);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({ ...dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict), ...fields });
  return new Uint8Array(dict.write());
}

let server: net.Server;

beforeAll(async () => {
  await writeUntrainedModel(at('w'));
  fs.writeFileSync(at('vol.nrrd'), writeNrrd(blobVolume()));
  fs.mkdirSync(at('series'));
  writeDicomSeries(blobVolume(), { uidSeed: 'bad-input' }, 'single-frame').forEach((f, n) => fs.writeFileSync(at('series', `im${String(n).padStart(3, '0')}.dcm`), f));
  fs.writeFileSync(at('notes.txt'), 'a file of the user: not to be overwritten\n');
  fs.mkdirSync(at('dataset'));
  fs.writeFileSync(at('dataset', 'labels.csv'), 'case_id,label,data_path,mask_path\n');
  fs.writeFileSync(at('dataset', 'DATA_000.nrrd'), writeNrrd(blobVolume()));
  execFileSync('mkfifo', [at('fifo')]);
  // Spacings a header may give, or not.
  nrrdWithHeader(at('no-spacing.nrrd'), '');
  nrrdWithHeader(at('zero-spacing.nrrd'), 'spacings: 0.5 0 0.8');
  nrrdWithHeader(at('negative-spacing.nrrd'), 'spacings: 0.5 -0.3 0.8');
  nrrdWithHeader(at('nan-spacing.nrrd'), 'spacings: nan 0.3 0.8');
  nrrdWithHeader(at('cm-spacing.nrrd'), 'spacings: 0.5 30 0.8');
  nrrdWithHeader(at('long-directions.nrrd'), 'space: LPS\nspace directions: (12,0,0) (0,0.3,0) (0,0,0.8)');
  // 100000 x 100000 x 1000 voxels of 16 bits announced, a few bytes there.
  fs.writeFileSync(at('huge.nrrd'), 'NRRD0004\ntype: uint16\ndimension: 3\nsizes: 100000 100000 1000\nendian: little\nspacings: 1 1 1\nencoding: gzip\n\n\x1f\x8b');
  // A DICOM series with one slice missing, one with a truncated file, a sweep whose two calibrations disagree.
  fs.mkdirSync(at('gap'));
  for (const f of fs.readdirSync(at('series'))) if (f !== 'im010.dcm') fs.copyFileSync(at('series', f), at('gap', f));
  fs.mkdirSync(at('truncated'));
  for (const f of fs.readdirSync(at('series'))) fs.copyFileSync(at('series', f), at('truncated', f));
  fs.writeFileSync(at('truncated', 'im005.dcm'), fs.readFileSync(at('series', 'im005.dcm')).subarray(0, 400));
  const [sweep] = writeDicomSeries(blobVolume(), { uidSeed: 'bad-input-sweep' }, 'multiframe');
  fs.writeFileSync(at('sweep.dcm'), sweep);
  fs.writeFileSync(at('disagreeing.dcm'), editDicom(sweep, { PixelSpacing: ['1', '1'] }));
  fs.writeFileSync(at('fake-seg.dcm'), editDicom(sweep, { SOPClassUID: '1.2.840.10008.5.1.4.1.1.66.4' }));
  // A dataset whose volume has no spacing: eval must refuse it too.
  fs.mkdirSync(at('no-spacing-set'));
  fs.copyFileSync(at('no-spacing.nrrd'), at('no-spacing-set', 'DATA_000.nrrd'));
  fs.copyFileSync(at('no-spacing.nrrd'), at('no-spacing-set', 'MASK_000.nrrd'));
  // Viewers for install-ohif: a fake OHIF 3.13.2 dist, one locked by a running install, one whose
  // installed plugin was changed since, an OHIF 3.12; and a built plugin folder.
  fakePlugin(at('plugin'));
  fakeViewer(at('viewer'), '3.13.2');
  fakeViewer(at('viewer-locked'), '3.13.2');
  fs.writeFileSync(at('viewer-locked', LOCK_FILE), `${process.pid}\n`);
  fakeViewer(at('viewer-damaged'), '3.13.2');
  installIntoViewer(at('viewer-damaged'), at('plugin'), '', { weightsUrl: '/w/', backend: 'auto', segFlavour: 'binary', exportTarget: 'dicomweb' });
  fs.appendFileSync(at('viewer-damaged', PLUGIN_FOLDER, 'extension.js'), '// changed\n');
  fakeViewer(at('viewer-312'), '3.12.0');
  // Files other tools or a damaged disk leave: gzip NRRDs cut short or with a flipped byte, types nrrd-js cannot read.
  const gz = Buffer.from(writeNrrd(blobVolume(), { gzip: true }));
  fs.writeFileSync(at('truncated.nrrd'), gz.subarray(0, gz.length - 40));
  const flipped = Buffer.from(gz);
  flipped[flipped.length - 6] ^= 0xff; // inside the gzip trailer's CRC-32
  fs.writeFileSync(at('corrupt.nrrd'), flipped);
  fs.writeFileSync(at('quaternion.nrrd'), 'NRRD0004\ntype: quaternion\ndimension: 3\nsizes: 4 4 4\nspacings: 1 1 1\nencoding: raw\n\n' + 'x'.repeat(1024));
  fs.writeFileSync(at('no-endian.nrrd'), Buffer.concat([Buffer.from('NRRD0004\ntype: uint16\ndimension: 3\nsizes: 32 24 16\nspacings: 1 1 1\nencoding: raw\n\n'), Buffer.alloc(32 * 24 * 16 * 2, 7)]));
  // A real DICOM SEG (infer --seg with a model that marks everything), given back as the input.
  await writeUntrainedModel(at('marking'), { architecture: { encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 }, segBias: 2 });
  const made = await inProcess(['infer', '--input', at('series'), '--center', '24,16,12', '--weights', at('marking'), '--backend', 'cpu', '--seg', path.join(scratch, 'seg.dcm')]);
  if (made.status !== 0 || !fs.existsSync(path.join(scratch, 'seg.dcm'))) throw new Error(`could not make a SEG: ${made.stderr}`);
  fs.copyFileSync(path.join(scratch, 'seg.dcm'), at('seg.dcm'));
  fs.mkdirSync(at('seg-only'));
  fs.copyFileSync(path.join(scratch, 'seg.dcm'), at('seg-only', 'seg.dcm'));
  // A model whose card's input grid has two entries.
  fs.cpSync(at('w'), at('w-2d-grid'), { recursive: true });
  const card = JSON.parse(fs.readFileSync(at('w-2d-grid', 'model-card.json'), 'utf8'));
  card.input.grid = [32, 16];
  fs.writeFileSync(at('w-2d-grid', 'model-card.json'), JSON.stringify(card));
  // Click records for calibrate --records: not JSON, JSON but not records, nothing.
  fs.writeFileSync(at('garbage.jsonl'), '{"kind":"lesion","malignant":true,"truthMl":1,"segmentMl":1}\nthis is not json\n');
  fs.writeFileSync(at('not-records.jsonl'), '[1,2,3]\n');
  fs.writeFileSync(at('empty.jsonl'), '\n\n');
  fs.writeFileSync(at('no-spacing-set', 'labels.csv'), 'case_id,label,data_path,mask_path\n0,M,DATA_000.nrrd,MASK_000.nrrd\n');
  server = net.createServer();
  await new Promise<void>((resolve) => server.listen(at('socket'), resolve));
});

afterAll(() => {
  server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

interface Case {
  /** Command line; evaluated when the case runs (fixtures exist by then). */
  args: () => string[];
  status: number;
  /** The first line on stderr that is not progress or a note. */
  message: RegExp;
}

const w = () => at('w');
const install = () => ['install-ohif', '--viewer', at('viewer'), '--plugin', at('plugin')];
const infer = (...args: string[]) => ['infer', '--center', '24,16,12', '--weights', w(), '--backend', 'cpu', ...args];

const CASES: Record<string, Case> = {
  // 1. Outputs
  'infer --out /dev/full (a device)': { args: () => infer('--input', at('vol.nrrd'), '--out', '/dev/full'), status: 1, message: /--out \/dev\/full is a device, not a regular file/ },
  'infer --out /dev/full --force': { args: () => infer('--input', at('vol.nrrd'), '--out', '/dev/full', '--force'), status: 1, message: /--out \/dev\/full is a device/ },
  'infer --out a FIFO': { args: () => infer('--input', at('vol.nrrd'), '--out', at('fifo')), status: 1, message: /--out .*fifo is a FIFO \(named pipe\), not a regular file/ },
  'infer --out a FIFO --force': { args: () => infer('--input', at('vol.nrrd'), '--out', at('fifo'), '--force'), status: 1, message: /is a FIFO/ },
  'infer --out a socket': { args: () => infer('--input', at('vol.nrrd'), '--out', at('socket'), '--force'), status: 1, message: /--out .*socket is a socket, not a regular file/ },
  'infer --input a FIFO': { args: () => infer('--input', at('fifo')), status: 1, message: /--input .*fifo is a FIFO/ },
  'infer --seg a new file inside the input DICOM folder': { args: () => infer('--input', at('series'), '--seg', at('series', 'seg.dcm')), status: 1, message: /--seg .*seg\.dcm is inside the input folder .*series; write the results somewhere else/ },
  'infer --out a file abus-ai did not write': { args: () => infer('--input', at('vol.nrrd'), '--out', at('notes.txt')), status: 1, message: /notes\.txt exists and was not written by abus-ai; pass --force/ },
  'detect --out the input folder': { args: () => ['detect', '--input', at('series'), '--weights', w(), '--out', at('series')], status: 1, message: /--out .*series is inside the input folder/ },
  'detect --out a folder inside the input folder': { args: () => ['detect', '--input', at('series'), '--weights', w(), '--out', at('series', 'found')], status: 1, message: /--out .*found is inside the input folder/ },
  'detect --out /dev/null': { args: () => ['detect', '--input', at('vol.nrrd'), '--weights', w(), '--out', '/dev/null'], status: 1, message: /--out \/dev\/null is a device/ },
  'detect --out a FIFO': { args: () => ['detect', '--input', at('vol.nrrd'), '--weights', w(), '--out', at('fifo')], status: 1, message: /--out .*fifo is a FIFO/ },
  'detect --out a file': { args: () => ['detect', '--input', at('vol.nrrd'), '--weights', w(), '--out', at('notes.txt')], status: 1, message: /--out .*notes\.txt is a file; give a folder/ },
  'phantom --out a folder holding a dataset': { args: () => ['phantom', '--out', at('dataset'), '--count', '1'], status: 1, message: /--out .*dataset already holds a dataset \(DATA_000\.nrrd, labels\.csv\); pass --force/ },
  'phantom --out /dev/full': { args: () => ['phantom', '--out', '/dev/full', '--count', '1'], status: 1, message: /--out \/dev\/full is a device/ },
  'phantom --out a FIFO --force': { args: () => ['phantom', '--out', at('fifo'), '--count', '1', '--force'], status: 1, message: /--out .*fifo is a FIFO/ },
  'eval --report inside --data': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--report', at('dataset', 'report')], status: 1, message: /--report .*report is inside the input folder .*dataset/ },
  'eval --report a socket': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--report', at('socket')], status: 1, message: /--report .*socket is a socket/ },
  'calibrate --out the model folder': { args: () => ['calibrate', '--weights', w(), '--out', w()], status: 1, message: /--out .*w is inside the input folder/ },
  'calibrate --out inside the model folder': { args: () => ['calibrate', '--weights', w(), '--out', at('w', 'calibrated')], status: 1, message: /--out .*calibrated is inside the input folder/ },
  'calibrate --out a non-empty folder': { args: () => ['calibrate', '--weights', w(), '--out', at('dataset')], status: 1, message: /--out .*dataset exists and is not empty; give a new folder/ },
  'calibrate --records /dev/zero (a device)': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--records', '/dev/zero'], status: 1, message: /--records \/dev\/zero is a device/ },
  'calibrate --records a FIFO': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--records', at('fifo')], status: 1, message: /--records .*fifo is a FIFO/ },

  // 2. Inputs: spacing, size, DICOM series
  'infer: an NRRD header without spacing': { args: () => infer('--input', at('no-spacing.nrrd')), status: 1, message: /no-spacing\.nrrd: the NRRD header gives no spacing \(neither 'space directions' nor 'spacings'\); pass --spacing/ },
  'detect: an NRRD header without spacing': { args: () => ['detect', '--input', at('no-spacing.nrrd'), '--weights', w()], status: 1, message: /no-spacing\.nrrd: the NRRD header gives no spacing/ },
  'eval: a dataset volume without spacing': { args: () => ['eval', '--data', at('no-spacing-set'), '--weights', w(), '--backend', 'cpu'], status: 1, message: /DATA_000\.nrrd: the NRRD header gives no spacing/ },
  'infer: a zero spacing': { args: () => infer('--input', at('zero-spacing.nrrd')), status: 1, message: /NRRD field 'spacings' is '0.5 0 0.8': 0 is not a finite number of mm above 0/ },
  'infer: a negative spacing': { args: () => infer('--input', at('negative-spacing.nrrd')), status: 1, message: /NRRD field 'spacings' is '0.5 -0.3 0.8': -0.3 is not/ },
  'infer: a NaN spacing': { args: () => infer('--input', at('nan-spacing.nrrd')), status: 1, message: /NRRD field 'spacings' is 'NaN 0.3 0.8'/ },
  'infer: a spacing of 30 mm': { args: () => infer('--input', at('cm-spacing.nrrd')), status: 1, message: /NRRD field 'spacings' is '0.5 30 0.8': 30 mm is over 10 mm per voxel/ },
  'detect: space directions 12 mm long': { args: () => ['detect', '--input', at('long-directions.nrrd'), '--weights', w()], status: 1, message: /NRRD field 'space directions' gives the spacing 12 x 0.3 x 0.8 mm: 12 mm is over 10 mm/ },
  'infer --spacing 0.5,0,1': { args: () => infer('--input', at('vol.nrrd'), '--spacing', '0.5,0,1'), status: 2, message: /--spacing 0.5,0,1: 0 is not a finite number of mm above 0/ },
  'detect --spacing 0.5,nan,1': { args: () => ['detect', '--input', at('vol.nrrd'), '--spacing', '0.5,nan,1'], status: 2, message: /--spacing must be three comma-separated numbers, got '0.5,nan,1'/ },
  'eval --spacing 0.5,11,1': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--spacing', '0.5,11,1'], status: 2, message: /--spacing 0.5,11,1: 11 mm is over 10 mm per voxel/ },
  'infer: an NRRD announcing 18626 GiB (checked before any allocation)': { args: () => infer('--input', at('huge.nrrd')), status: 1, message: /huge\.nrrd: The NRRD volume is 100000 x 100000 x 1000 voxels of 2 bytes, 18626.45 GiB decoded: over the 1.5 GiB limit/ },
  'infer: a DICOM series with a missing slice': { args: () => infer('--input', at('gap')), status: 1, message: /gap: a slice is missing: im009\.dcm \(at 7\.200 mm along the slice normal\) and im011\.dcm \(at 8\.800 mm\) are 1\.600 mm apart, the other slices 0\.800 mm/ },
  'detect: a DICOM series with a truncated file': { args: () => ['detect', '--input', at('truncated'), '--weights', w()], status: 1, message: /truncated: im005\.dcm is not a readable DICOM file/ },
  'infer: PixelSpacing 1\\1 against a region calibration of 0.3 x 0.5 mm': { args: () => infer('--input', at('disagreeing.dcm')), status: 1, message: /disagreeing\.dcm: PixelSpacing \(0028,0030\) is 1\\1 \(row\\column, mm\) but the ultrasound region calibration \(0018,602C\/602E\) gives 0\.3 x 0\.5 mm/ },

  // 4. install-ohif: every option value before any work, the lock, --check of every file
  'install-ohif --backend gpu': { args: () => [...install(), '--backend', 'gpu'], status: 2, message: /option '--backend <name>' argument 'gpu' is invalid. Allowed choices are auto, webgpu, webgl, wasm, cpu/ },
  'install-ohif --export email': { args: () => [...install(), '--export', 'email'], status: 2, message: /option '--export <target>' argument 'email' is invalid. Allowed choices are dicomweb, download/ },
  'install-ohif --seg rle': { args: () => [...install(), '--seg', 'rle'], status: 2, message: /option '--seg <flavour>' argument 'rle' is invalid. Allowed choices are binary, labelmap/ },
  'install-ohif --base-url ohif (relative)': { args: () => [...install(), '--base-url', 'ohif'], status: 2, message: /--base-url must be an absolute URL path such as \/ohif .*got 'ohif'/ },
  "install-ohif --base-url /a/../b": { args: () => [...install(), '--base-url', '/a/../b'], status: 2, message: /--base-url must be an absolute URL path .*no '\.\.'.*got '\/a\/\.\.\/b'/ },
  "install-ohif --base-url with a quote": { args: () => [...install(), '--base-url', "/x';alert(1)//"], status: 2, message: /--base-url must be an absolute URL path/ },
  'install-ohif --weights-url javascript:': { args: () => [...install(), '--weights-url', 'javascript:alert(1)'], status: 2, message: /--weights-url must be an absolute URL path \(\/models\/mine\/\) or an http\(s\) URL/ },
  'install-ohif --sweep-spacing 0': { args: () => [...install(), '--sweep-spacing', '0'], status: 2, message: /--sweep-spacing must be a positive number of mm \(at most 10\), not 0/ },
  'install-ohif --wasm-threads 0': { args: () => [...install(), '--wasm-threads', '0'], status: 2, message: /--wasm-threads must be a whole number of at least 1/ },
  'install-ohif --check --uninstall': { args: () => [...install(), '--check', '--uninstall'], status: 2, message: /give --check or --uninstall, not both/ },
  'install-ohif --viewer a missing folder': { args: () => ['install-ohif', '--viewer', at('no-such-viewer'), '--plugin', at('plugin')], status: 1, message: /--viewer .*no-such-viewer is not a folder; give the OHIF dist folder/ },
  'install-ohif --viewer a file': { args: () => ['install-ohif', '--viewer', at('notes.txt'), '--plugin', at('plugin')], status: 1, message: /--viewer .*notes\.txt is not a folder/ },
  'install-ohif --viewer a folder that is not OHIF': { args: () => ['install-ohif', '--viewer', at('dataset'), '--plugin', at('plugin')], status: 1, message: /dataset is not an OHIF dist folder: index\.html or app-config\.js is missing/ },
  'install-ohif into OHIF 3.12': { args: () => ['install-ohif', '--viewer', at('viewer-312'), '--plugin', at('plugin')], status: 1, message: /is OHIF 3\.12\.0 .*supports OHIF 3\.13\.x only.*\(or pass --any-version to try anyway\)/ },
  'install-ohif while another install runs': { args: () => ['install-ohif', '--viewer', at('viewer-locked'), '--plugin', at('plugin')], status: 1, message: new RegExp(`another abus-ai install-ohif \\(pid ${process.pid}\\) is changing .*viewer-locked; wait for it to finish`) },
  'install-ohif --uninstall while another install runs': { args: () => ['install-ohif', '--viewer', at('viewer-locked'), '--uninstall'], status: 1, message: /another abus-ai install-ohif/ },
  'install-ohif --check finds a changed file': { args: () => ['install-ohif', '--viewer', at('viewer-damaged'), '--plugin', at('plugin'), '--check'], status: 1, message: /the installed plugin is damaged: abus-tumor-ai\/extension\.js has changed since the install \(SHA-256 differs\)/ },

  // 5. Messages that name the file, the field and what is expected; argument errors before any work
  'infer: a gzip NRRD cut short': { args: () => infer('--input', at('truncated.nrrd')), status: 1, message: /truncated\.nrrd: its gzip data is corrupt or truncated \(unexpected end of file\)/ },
  'detect: a gzip NRRD with a flipped byte': { args: () => ['detect', '--input', at('corrupt.nrrd'), '--weights', w()], status: 1, message: /corrupt\.nrrd: its gzip data is corrupt or truncated \(incorrect data check\)/ },
  'infer: NRRD type quaternion': { args: () => infer('--input', at('quaternion.nrrd')), status: 1, message: /quaternion\.nrrd: NRRD field 'type' is 'quaternion': not supported \(use one of int8, uint8/ },
  'infer: 16-bit NRRD without endian': { args: () => infer('--input', at('no-endian.nrrd')), status: 1, message: /no-endian\.nrrd: NRRD field 'endian' is '\(missing\)': uint16 data needs 'little' or 'big'/ },
  'infer: a DICOM SEG given as the input': { args: () => infer('--input', at('seg.dcm')), status: 1, message: /error: \/.*\/seg\.dcm is a Segmentation object, not an image series$/ },
  'detect: a folder holding only a SEG': { args: () => ['detect', '--input', at('seg-only'), '--weights', w()], status: 1, message: /seg-only holds only seg\.dcm, a Segmentation object, not an image series/ },
  'infer: a model card whose input grid has 2 entries': { args: () => ['infer', '--input', at('vol.nrrd'), '--center', '24,16,12', '--weights', at('w-2d-grid'), '--backend', 'cpu'], status: 1, message: /w-2d-grid\/model-card\.json field 'input\.grid' must be three whole numbers of voxels .*got \[32,16\]/ },
  'eval --detect --update-card --scan': { args: () => ['eval', '--detect', '--data', at('dataset'), '--weights', w(), '--update-card', '--scan', '{"threshold":0.4}'], status: 2, message: /--update-card records the card's own scan parameters: run it without --scan/ },
  'eval --click-robustness --resume without --records': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--click-robustness', '--resume'], status: 2, message: /--resume needs --records <file>/ },
  'eval --resume with records that are not': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--click-robustness', '--resume', '--records', at('no-spacing-set', 'labels.csv')], status: 1, message: /--resume: .*labels\.csv line 1 is not a lesion's record/ },
  'eval --limit 0': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--limit', '0'], status: 2, message: /option '--limit <n>' argument '0' is invalid. must be a whole number >= 1/ },
  'eval --limit ten': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--limit', 'ten'], status: 2, message: /option '--limit <n>' argument 'ten' is invalid/ },
  'eval --normal-clicks -1': { args: () => ['eval', '--data', at('dataset'), '--weights', w(), '--normal-clicks', '-1'], status: 2, message: /option '--normal-clicks <n>' argument '-1' is invalid. must be a whole number >= 0/ },
  'calibrate --records a file that is not JSON lines': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--records', at('garbage.jsonl')], status: 1, message: /--records .*garbage\.jsonl, line 2: not JSON; expected one click record a line/ },
  'calibrate --records JSON that is not a click record': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--records', at('not-records.jsonl')], status: 1, message: /not-records\.jsonl, line 1: not a click record \(it needs "kind", "malignant" and "segmentMl"\)/ },
  'calibrate --records an empty file': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--records', at('empty.jsonl')], status: 1, message: /--records .*empty\.jsonl holds no click records/ },
  'calibrate --weights a missing folder (one line, before any worker starts)': { args: () => ['calibrate', '--weights', at('no-model'), '--out', path.join(scratch, 'cal')], status: 1, message: /Weights file not found: .*no-model\/model-card\.json/ },
  'calibrate --count 0': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--count', '0'], status: 2, message: /option '--count <n>' argument '0' is invalid. must be a whole number >= 1/ },
  'calibrate --count -5': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--count', '-5'], status: 2, message: /option '--count <n>' argument '-5' is invalid/ },
  'calibrate --processes 0': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--processes', '0'], status: 2, message: /option '--processes <n>' argument '0' is invalid. must be a whole number >= 1/ },
  'calibrate --seed 1.5': { args: () => ['calibrate', '--weights', w(), '--out', path.join(scratch, 'cal'), '--seed', '1.5'], status: 2, message: /option '--seed <n>' argument '1.5' is invalid/ },
  'phantom --size-mm 100000,40,80': { args: () => ['phantom', '--out', path.join(scratch, 'big'), '--size-mm', '100000,40,80'], status: 2, message: /--size-mm 100000,40,80 at 0.4 x 0.2 x 0.5 mm is 250000 x 200 x 160 voxels of 1 byte, 7.45 GiB decoded: over the 1.5 GiB limit/ },
  'phantom --size-mm 1,1,1': { args: () => ['phantom', '--out', path.join(scratch, 'tiny'), '--size-mm', '1,1,1'], status: 2, message: /--size-mm 1,1,1 at 0.4 x 0.2 x 0.5 mm is 3 x 5 x 2 voxels; each side needs at least 16/ },
  'phantom --spacing 0.4,0.2,50': { args: () => ['phantom', '--out', path.join(scratch, 'coarse'), '--spacing', '0.4,0.2,50'], status: 2, message: /--spacing 0.4,0.2,50: 50 mm is over 10 mm per voxel/ },
  'phantom --count 0': { args: () => ['phantom', '--out', path.join(scratch, 'none'), '--count', '0'], status: 2, message: /--count must be a positive integer, got '0'/ },
  'phantom --format png': { args: () => ['phantom', '--out', path.join(scratch, 'png'), '--format', 'png'], status: 2, message: /--format: unknown format 'png' \(use nrrd, dicom, dicom-multiframe or all\)/ },
  'detect --max-candidates 0': { args: () => ['detect', '--input', at('vol.nrrd'), '--max-candidates', '0'], status: 2, message: /--max-candidates must be a whole number >= 1, got '0'/ },
  'infer --center 1,2': { args: () => infer('--input', at('vol.nrrd'), '--center', '1,2'), status: 2, message: /--center must be three comma-separated numbers, got '1,2'/ },
  'infer --center-space world': { args: () => infer('--input', at('vol.nrrd'), '--center-space', 'world'), status: 2, message: /option '--center-space <space>' argument 'world' is invalid. Allowed choices are voxel, patient/ },
  'detect --backend metal': { args: () => ['detect', '--input', at('vol.nrrd'), '--backend', 'metal'], status: 2, message: /option '--backend <name>' argument 'metal' is invalid/ },
  'infer --seg for NRRD input (before the model runs)': { args: () => infer('--input', at('vol.nrrd'), '--seg', path.join(scratch, 'x.dcm')), status: 2, message: /--seg and --sr need DICOM input: they refer to the source images/ },
  'an unknown command': { args: () => ['detekt'], status: 2, message: /unknown command 'detekt' \(Did you mean detect\?\); see abus-ai --help/ },
};

const peaks: [string, number][] = [];

describe('bad input: exit status, one first line, no stack trace, no file changed, no hang, at most 1 GB', () => {
  // Each case is a process of its own, as a user runs it: its peak memory is its own, and a case
  // that would block (a FIFO) is killed at the time limit.
  test.each(Object.entries(CASES))('%s', async (name, c) => {
    const before = snapshot(dir);
    const r = child(c.args());
    expect(r.peakMb).toBeDefined();
    expect(r.peakMb!).toBeLessThanOrEqual(1024);
    peaks.push([name, r.peakMb!]);
    expect(r.stderr).not.toMatch(/^\s+at .*:\d+/m); // no stack trace
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !/^abus-ai: (backend|note|warning)/.test(l));
    expect(lines[0]).toMatch(/^abus-ai: error: /);
    expect(lines[0]).toMatch(c.message);
    expect(r.status).toBe(c.status);
    expect(snapshot(dir)).toEqual(before);
  }, 90_000);
});

afterAll(() => {
  const top = [...peaks].sort((a, b) => b[1] - a[1]).slice(0, 3);
  if (top.length) console.log(`bad input: peak memory of ${peaks.length} refused inputs, highest: ${top.map(([n, mb]) => `${mb.toFixed(0)} MB (${n})`).join('; ')}`);
});

describe('what the output rules allow', () => {
  test('phantom --force replaces a dataset; a new folder appears whole, with no temporary file left', async () => {
    const out = path.join(scratch, 'phantom-new');
    expect((await inProcess(['phantom', '--out', out, '--count', '1', '--size-mm', '40,20,40'])).status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['DATA_000.nrrd', 'MASK_000.nrrd', 'labels.csv', 'phantoms.json']);
    expect(fs.readdirSync(scratch).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect((await inProcess(['phantom', '--out', out, '--count', '1', '--size-mm', '40,20,40'])).status).toBe(1);
    expect((await inProcess(['phantom', '--out', out, '--count', '1', '--size-mm', '40,20,40', '--force'])).status).toBe(0);
  });
});
