/**
 * The scan's parameters: plain data, as a model card records them (its `scan`). Apart from
 * scan.ts so that the card's type (engine/weights.ts) does not import the pipeline.
 */
import type { Vec3 } from '../volume';

export interface ScanParams {
  /**
   * Window grid in the model's voxels [lateral, depth, sweep], each a multiple of 16. Wider than
   * the click VOI because the first pass finds lesions far better away from a window's borders; on
   * an axis where the volume is smaller the window shrinks to it, never below the model's grid.
   */
  windowGrid: Vec3;
  /** Largest distance between neighbouring window centres, mm [lateral, depth, sweep]. */
  strideMm: Vec3;
  /** Network passes per window; 1 = the first pass, which still marks lesions off the window's centre. */
  iterations: number;
  /** Cell of the coarse probability map, mm. */
  cellMm: number;
  /** Standard deviation (mm) of the Gaussian weight of a window's voxels around its centre; Infinity = flat. */
  taperMm: number;
  /** Coarse-map probability a candidate's cells reach. */
  threshold: number;
  /** A candidate's smallest probability mass (sum of probability x cell volume), mL. */
  minMl: number;
  /** Candidates of the network's map given the fine analysis, the best first. */
  maxCandidates: number;
  /**
   * Dark blobs given the fine analysis besides (0: none): the darkest local spots of the image
   * itself on the coarse grid (a difference of Gaussians, blobDarkness standard deviations or
   * darker than their surroundings), away from the map's candidates. The first pass alone misses
   * many lesions under ~8 mm; the fine analysis, centred on them, finds most.
   */
  blobCandidates: number;
  /** A blob's smallest darkness (standard deviations of the coarse grid's grey levels). */
  blobDarkness: number;
  /** Non-maximum suppression: a map candidate whose centre lies within this distance (mm) of a better one's is not analysed. */
  nmsMm?: number;
  /**
   * The detection score calibrated on validation volumes (abus-ai eval --detect --calibrate-score):
   * raw scores, ascending, and at each the share of lesions among the validation candidates with that score
   * that the click analysis found a lesion at (before minScore cuts any); a candidate's score is that share, interpolated. Absent: the raw score.
   */
  calibration?: { raw: number[]; share: number[] };
  /** A lesion the fine analysis found is proposed (Candidate.found) only at this score or above (the calibrated one where there is a calibration). Absent: 0. */
  minScore?: number;
  /**
   * A map candidate at this raw score or above that the click analysis turned down gets a second
   * look at the voxel nearest its centre (Absent: no second look). The candidate's centre is a
   * probability-weighted mean, between voxels; measured, the click analysis can answer "no lesion"
   * there and find a 6.85 mL cancer at the nearest voxel (where a user's click lands) and 0.4-4 mm
   * around it: a sub-voxel phase of the VOI's resampling, not the lesion.
   */
  secondLookScore?: number;
  /**
   * With secondLookScore: a sure map candidate the click analysis turns down (after the second
   * look) and whose VOI reaches past the volume's lateral or sweep face is analysed once more with
   * the VOI moved inwards (voi.ts planAbout), and that answer is kept if its box overlaps the
   * component's by more than IoU 0.3. A lesion found centred keeps its answer, the one a click at
   * it gives. Why: the click analysis misses lesions whose VOI is padded (docs/engine.md,
   * Normalisation). Absent: false.
   */
  inwardLook?: boolean;
  /**
   * A map candidate at or above outlineScore and outlinePeak (below) that the click analysis turns
   * down (after the second looks, where its score earns them) is proposed with the detector's own
   * component as its outline (2 mm cells), with no
   * P(malignant) and no verdict (the result's `outline` is 'detector'). Why: the click analysis
   * answered "no lesion" even at the true centre of lesions the detector's box was on
   * (docs/engine.md, Finding lesions). Absent: false.
   */
  detectorOutline?: boolean;
  /**
   * With detectorOutline: the raw score from which a map candidate the click analysis turned down
   * is outlined by the detector (absent: secondLookScore). Below the second look's 0.75 because
   * the raw score grows with the component's probability mass, so a small lesion the detector is
   * certain of scores low (a 0.17 mL lesion 0.61), while the click analysis turns most such lesions down.
   */
  outlineScore?: number;
  /**
   * With detectorOutline: the peak of the coarse map a candidate outlined by the detector reaches
   * (absent: 0). Why: the detector's map is near-binary; on validation every lesion's component
   * peaked at 1.00, while 7 of the 10 false components peaked at 0.51-0.52, the map hovering at
   * the threshold (docs/engine.md, The detector's outline).
   */
  outlinePeak?: number;
  /**
   * With detectorOutline: a click segment under this share of the component's probability mass,
   * at a candidate the outline would stand for, is taken for a part of the lesion, and the
   * detector's outline replaces it (with no P(malignant) and no verdict: the click analysis's came
   * from the part). Absent: a segment is always kept. Why: on held-out phantoms the click analysis
   * segmented 0.01-0.08 mL of lesions whose component held 0.27-1.96 mL (0.02-0.08 of it), and each
   * such proposal counted as a false positive and a miss; segments that hit held 0.21-0.30 of
   * theirs (docs/engine.md, A part of the lesion).
   */
  outlinePart?: number;
}

/** Used where the card has no `scan` (a model never calibrated for detection). */
export const DEFAULT_SCAN: ScanParams = { windowGrid: [128, 32, 128], strideMm: [64, 12, 64], iterations: 1, cellMm: 2, taperMm: 32, threshold: 0.5, minMl: 0.02, maxCandidates: 5, blobCandidates: 0, blobDarkness: 1 };
