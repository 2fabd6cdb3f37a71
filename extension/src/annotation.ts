/**
 * The result written on the image: an arrow annotation at the lesion with its label
 * ("Malignant 87% (AI)"), made with cornerstone's ArrowAnnotate tool so that OHIF lists, shows,
 * hides and deletes it like any other measurement.
 */
import type { Cornerstone } from './viewer-volume';
import { cross, worldAt } from './viewer-point';

export const ANNOTATION_TOOL = 'ArrowAnnotate';

/**
 * Adds the arrow on the image through the lesion centre, its tip at the centre and its tail
 * 12 mm up and to the left in the image, and returns the annotation's UID.
 */
export function addLesionAnnotation(cs: Cornerstone, imageId: string, column: number, row: number, text: string): string {
  const plane = cs.cornerstone.metaData.get('imagePlaneModule', imageId) ?? {};
  const along: number[] = plane.rowCosines ?? [1, 0, 0];
  const down: number[] = plane.columnCosines ?? [0, 1, 0];
  const tip = worldAt(cs, imageId, column, row);
  const tail = tip.map((v, a) => v - 8.5 * along[a] - 8.5 * down[a]);
  const annotation = {
    invalidated: true,
    highlighted: false,
    isLocked: false,
    isVisible: true,
    metadata: {
      toolName: ANNOTATION_TOOL,
      referencedImageId: imageId,
      FrameOfReferenceUID: plane.frameOfReferenceUID,
      viewPlaneNormal: cross(along, down),
      viewUp: down.map((v) => -v),
    },
    data: { text, label: text, handles: { points: [tip, tail], activeHandleIndex: null, textBox: { hasMoved: false } } },
  };
  const uid: string = cs.cornerstoneTools.annotation.state.addAnnotation(annotation, plane.frameOfReferenceUID);
  return uid ?? (annotation as { annotationUID?: string }).annotationUID;
}

export function removeLesionAnnotation(cs: Cornerstone, annotationUID: string | undefined): void {
  if (annotationUID && cs.cornerstoneTools.annotation.state.getAnnotation(annotationUID)) cs.cornerstoneTools.annotation.state.removeAnnotation(annotationUID);
}
