/**
 * What a click's analysis takes and gives: its options, progress and result. Apart from
 * analyze.ts so that the modules analyze.ts runs (lesion-centre, scan) can name them without
 * importing it back.
 */
import type { BackendName } from '../engine/backend';
import type { Vec3 } from '../volume';
import type { Descriptors } from './descriptors';
import type { FlipAxis } from './flips';
import type { LesionSize } from './postprocess';
import type { Verdict } from './verdict';
import type { SourceMask } from './voi';

export type Stage = 'reading VOI' | 'iteration' | 'post-processing' | 're-centring';

export interface Progress {
  stage: Stage;
  /** For 'iteration': 1..N (over all flipped views); for 're-centring': which re-centring. */
  step?: number;
  of?: number;
}

export interface AnalyzeOptions {
  centerSpace?: 'patient' | 'voxel';
  /** Analyse again on the lesion's own centre (lesion-centre.ts); default true. */
  recentre?: boolean;
  /** Move each VOI inwards where it would reach past the volume's lateral or sweep face (voi.ts planAbout); default false. */
  inward?: boolean;
  /** Flipped views averaged in the last analysis (flips.ts); default the card's analysis.flips, else none. */
  flips?: FlipAxis[];
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface AnalysisResult {
  /**
   * False when no segment reaches within the card's click radius, or the one that does is
   * smaller than its minimum lesion size: "no lesion here".
   */
  found: boolean;
  /** P(malignant) of the lesion found (the card's classifier), or null: no lesion, or a segmentation-only model. */
  probability: number | null;
  /**
   * [min, max] of P(malignant) over the network views averaged (flips.ts), each view's own
   * segment and classifier, and `probability` itself; [P, P] with one view; null with no P.
   */
  probabilityRange: [number, number] | null;
  /** Network views averaged: 1, or 2-4 with flips. */
  views: number;
  /** The network's own P(malignant) from its last pass, before the card's classifier. */
  networkProbability: number | null;
  /** The lesion's measured descriptors on the network grid (null when none was found). */
  descriptors: Descriptors | null;
  /** Words for the probability from the card's operating points, or null (no lesion, no points). */
  verdict: Verdict | null;
  /** The class the verdict commits to: none in the indeterminate band (see verdict.ts). */
  label: 'malignant' | 'benign' | null;
  lesion: SourceMask;
  size: LesionSize;
  /** Continuous source index of the centre of the VOI analysed last: the lesion's own centre after re-centring. */
  centerIndex: Vec3;
  /** Continuous source index of the click (or of a scan's candidate). */
  clickIndex: Vec3;
  /** Network runs of the click: its look and analyses (lesion-centre.ts). */
  analyses: number;
  /** Network passes this result ran: the card's N, or 1 for a look that stopped there (lesion-centre.ts). */
  passes: number;
  backend: BackendName;
  backendReason: string;
  timingsMs: Record<string, number>;
  notice: string;
  /**
   * 'detector': the segment is the scan's detector's own component (2 mm cells), proposed where
   * the detector was sure and the click analysis found no lesion, or a small part of one (scan.ts,
   * detectorOutline, outlinePart); it
   * has no P(malignant) and no verdict. Absent for the click analysis's own segment.
   */
  outline?: 'detector';
}

/** The error-scope part of a GPUDevice (no WebGPU types in this project's libs). */
