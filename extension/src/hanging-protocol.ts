/**
 * The ABUS reading layout: the coronal view (parallel to the skin, where ABUS readers look for
 * masses) large on the left, the acquired (axial) and sagittal views on the right, all three
 * reconstructed from the same volume with synchronised window/level and one tool group with the
 * host's MPR tools (crosshairs included). Offered for studies with ultrasound; a sweep that
 * cannot be reconstructed is shown by the host's default layout instead.
 */
export const ABUS_PROTOCOL = 'abusThreeView';
const VOLUME_AVAILABLE = 'abusVolumeAvailable';

/**
 * The study-level condition of the layout: the study has an ultrasound series the viewer can
 * reconstruct. Without it the layout would win for every US study and leave a sweep without
 * positions (not reconstructable) on empty views.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function addVolumeAvailableAttribute(services: Record<string, any>): void {
  services.hangingProtocolService.addCustomAttribute(VOLUME_AVAILABLE, 'ABUS volume available', (study: { StudyInstanceUID?: string }) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    services.displaySetService.getActiveDisplaySets().some((ds: any) => ds.StudyInstanceUID === study?.StudyInstanceUID && ds.Modality === 'US' && ds.isReconstructable === true),
  );
}

const voiSync = { type: 'voi', id: 'abusVoi', source: true, target: true, options: { syncColormap: true } };

function view(orientation: 'coronal' | 'axial' | 'sagittal') {
  return {
    viewportOptions: {
      viewportId: `abus-${orientation}`,
      toolGroupId: 'mpr',
      viewportType: 'volume',
      orientation,
      initialImageOptions: { preset: 'middle' },
      syncGroups: [voiSync],
    },
    displaySets: [{ id: 'abusVolume' }],
  };
}

export const abusThreeView = {
  id: ABUS_PROTOCOL,
  name: 'ABUS: coronal, axial, sagittal',
  locked: true,
  icon: 'layout-advanced-mpr',
  isPreset: true,
  createdDate: '2026-11-26',
  modifiedDate: '2026-11-26',
  availableTo: {},
  editableBy: {},
  numberOfPriorsReferenced: 0,
  protocolMatchingRules: [{ weight: 10, attribute: VOLUME_AVAILABLE, constraint: { equals: { value: true } }, required: true }],
  imageLoadStrategy: 'interleaveCenter',
  displaySetSelectors: {
    abusVolume: {
      seriesMatchingRules: [
        { weight: 1, attribute: 'Modality', constraint: { equals: { value: 'US' } }, required: true },
        { weight: 1, attribute: 'isReconstructable', constraint: { equals: { value: true } }, required: true },
      ],
    },
  },
  stages: [{
    name: 'ABUS 3 views',
    viewportStructure: {
      layoutType: 'grid',
      properties: {
        rows: 2,
        columns: 2,
        layoutOptions: [
          { x: 0, y: 0, width: 0.5, height: 1 },
          { x: 0.5, y: 0, width: 0.5, height: 0.5 },
          { x: 0.5, y: 0.5, width: 0.5, height: 0.5 },
        ],
      },
    },
    viewports: [view('coronal'), view('axial'), view('sagittal')],
  }],
};
