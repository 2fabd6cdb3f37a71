/**
 * A Node built-in module, or undefined outside Node. The require is hidden from bundlers on
 * purpose, so modules that use Node only on some paths can still be bundled for the browser.
 */
export function nodeBuiltin<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (proc?.getBuiltinModule) return proc.getBuiltinModule(id) as T;
  try {
    // Only reached on Node < 20.16, which lacks process.getBuiltinModule.
    return (0, eval)('require')(id) as T;
  } catch {
    return undefined;
  }
}
