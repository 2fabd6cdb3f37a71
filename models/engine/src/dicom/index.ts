/**
 * DICOM in one place: ultrasound volumes read and written (single-frame series and multi-frame
 * sweeps, one sweep geometry), and the derived objects this project stores: the tumour
 * segmentation (SEG) and the measurement report (Comprehensive 3D SR, TID 1500).
 */
export * from './common';
export * from './volume';
export * from './seg';
export * from './sr';
export * from './report';
