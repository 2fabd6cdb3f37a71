/**
 * The result written on the image: an arrow annotation at the lesion with its label
 * ("Malignant 87% (AI)"), made with cornerstone's ArrowAnnotate tool so that OHIF lists, shows,
 * hides and deletes it like any other measurement. Cornerstone draws an arrow only in views of
 * its own plane (the acquired image), so a marker tool draws the same label at the lesion in the
 * other views (coronal, sagittal) while their slice cuts the lesion.
 */
import type { AbusSettings } from './settings';
import type { Cornerstone } from './host';
import { cross, dot, worldAt } from './viewer-point';

export const ANNOTATION_TOOL = 'ArrowAnnotate';
export const MARKER_TOOL = 'AbusLesionMarker';
const MARKER_COLOR = 'rgb(255, 255, 0)';
const DEMO_COLOR = 'rgb(0, 220, 255)';

/**
 * Adds the arrow on the image through the lesion centre, its tip at the centre and its tail
 * 12 mm up and to the left in the image, and returns the annotation's UID. radiusMm: how far
 * from the centre a view's slice still shows the marker (half the lesion's longest diameter).
 */
export function addLesionAnnotation(cs: Cornerstone, imageId: string, column: number, row: number, text: string, radiusMm = 1): string {
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
    data: { text, label: text, handles: { points: [tip, tail], activeHandleIndex: null, textBox: { hasMoved: false } }, abusMarkerRadiusMm: radiusMm },
  };
  const uid: string = cs.cornerstoneTools.annotation.state.addAnnotation(annotation, plane.frameOfReferenceUID);
  return uid ?? (annotation as { annotationUID?: string }).annotationUID;
}

export function removeLesionAnnotation(cs: Cornerstone, annotationUID: string | undefined): void {
  if (annotationUID && cs.cornerstoneTools.annotation.state.getAnnotation(annotationUID)) cs.cornerstoneTools.annotation.state.removeAnnotation(annotationUID);
}

/**
 * Registers the marker tool (once) and enables it in a tool group: for each of the plugin's arrows
 * (data.abusMarkerRadiusMm) it draws a ring at the tip and the arrow's text in every view that is
 * not the arrow's own plane and whose slice passes within that radius of the tip. It reads the
 * arrows themselves, so a label edited, hidden or deleted in OHIF changes the markers with it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function installLesionMarker(cs: Cornerstone, groups: any[], demoLesion?: AbusSettings['demoLesion']): void {
  const tools = cs.cornerstoneTools;
  const BaseTool = tools.BaseTool as new (props: unknown, defaults: unknown) => object;
  class LesionMarkerTool extends BaseTool {
    static toolName = MARKER_TOOL;
    constructor(props = {}) {
      super(props, { supportedInteractionTypes: [], configuration: {} });
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    renderAnnotation = (enabledElement: any, svgDrawingHelper: unknown): boolean => {
      const { viewport } = enabledElement;
      const { viewPlaneNormal: normal, focalPoint } = viewport.getCamera();
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const arrows: any[] = tools.annotation.state.getAnnotations(ANNOTATION_TOOL, viewport.element) ?? [];
      let drawn = false;
      // The demo's hint, in every view (no arrow stands for it), its label below the ring so a result's label above stays clear.
      if (demoLesion && Math.abs(dot(demoLesion.centreMm.map((v, a) => v - focalPoint[a]), normal)) <= demoLesion.radiusMm) {
        const [x, y] = viewport.worldToCanvas(demoLesion.centreMm);
        const r = Math.max(10, demoLesion.radiusMm * viewport.canvas.clientHeight / (2 * viewport.getCamera().parallelScale));
        tools.drawing.drawCircle(svgDrawingHelper, 'abus-demo-lesion', 'ring', [x, y], r, { color: DEMO_COLOR, width: 1.5, lineDash: '4,3' });
        tools.drawing.drawTextBox(svgDrawingHelper, 'abus-demo-lesion', 'label', [demoLesion.label], [x - r, y + r + 4], { color: DEMO_COLOR, padding: 0 });
        drawn = true;
      }
      for (const arrow of arrows) {
        const radius = arrow.data?.abusMarkerRadiusMm;
        if (radius === undefined || arrow.isVisible === false) continue;
        if (Math.abs(dot(normal, arrow.metadata.viewPlaneNormal)) > 0.99) continue; // the arrow is drawn there
        const tip: number[] = arrow.data.handles.points[0];
        if (Math.abs(dot([tip[0] - focalPoint[0], tip[1] - focalPoint[1], tip[2] - focalPoint[2]], normal)) > radius) continue;
        const [x, y] = viewport.worldToCanvas(tip);
        const uid = `${arrow.annotationUID}-marker`;
        tools.drawing.drawCircle(svgDrawingHelper, uid, 'ring', [x, y], 6, { color: MARKER_COLOR, width: 2 });
        // Centred above the ring, moved sideways where the view would cut it off (drawn once to learn its width).
        const style = { color: MARKER_COLOR, padding: 0 };
        const { width } = tools.drawing.drawTextBox(svgDrawingHelper, uid, 'label', [arrow.data.text], [x, y - 30], style);
        const left = Math.max(4, Math.min(x - width / 2, viewport.canvas.clientWidth - width - 4));
        tools.drawing.drawTextBox(svgDrawingHelper, uid, 'label', [arrow.data.text], [left, y - 30], style);
        drawn = true;
      }
      return drawn;
    };
  }
  tools.addTool(LesionMarkerTool); // a no-op after an earlier mode entry
  for (const group of groups) {
    if (!group.hasTool(MARKER_TOOL)) group.addTool(MARKER_TOOL);
    group.setToolEnabled?.(MARKER_TOOL);
  }
}
