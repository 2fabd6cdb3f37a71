/**
 * What the plugin takes from its OHIF host: cornerstone's libraries, as OHIF's cornerstone
 * extension hands them out (getCornerstoneLibraries). Typed loosely: the plugin builds against
 * no copy of cornerstone of its own, and uses the host's.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Cornerstone = { cornerstone: any; cornerstoneTools: any };
