/**
 * The React "island": OHIF renders panels with its own React 18, which it does not share with
 * plugins, and a component from another React copy that uses hooks breaks the viewer. So the
 * panel component returns a plain React 18 element object (a <div> with a callback ref) and the
 * panel's content is built with the DOM inside that div. Its state lives outside React, so it
 * survives panel tab switches.
 */
const REACT_ELEMENT = Symbol.for('react.element');

export function domIsland(className: string, mount: (host: HTMLElement) => () => void): () => unknown {
  let unmount: (() => void) | undefined;
  const ref = (node: HTMLElement | null) => {
    unmount?.();
    unmount = node ? mount(node) : undefined;
  };
  return () => ({ $$typeof: REACT_ELEMENT, type: 'div', key: null, ref, props: { className, style: { height: '100%', overflow: 'auto' } }, _owner: null });
}
