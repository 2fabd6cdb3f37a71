/**
 * How the command line fails: one line on stderr, an exit status, and with --json also
 * {"error": ..., "code": ...} on stdout, so a script reading stdout is never left with nothing.
 */
export type ErrorCode = 'usage' | 'input' | 'output' | 'filesystem' | 'error';

export class CliError extends Error {
  constructor(message: string, readonly code: ErrorCode = 'error') {
    super(message);
  }
}

const FS_TEXT: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  ENOTEMPTY: 'folder not empty',
};

export function describeError(err: unknown): { message: string; code: ErrorCode; status: number } {
  const e = err as { message?: string; code?: string; path?: string; dest?: string; syscall?: string };
  if (err instanceof CliError) return { message: err.message, code: err.code, status: err.code === 'usage' ? 2 : 1 };
  if (typeof e?.code === 'string' && e.code.startsWith('commander.')) {
    return { message: String(e.message).replace(/^error: /, ''), code: 'usage', status: 2 };
  }
  // Node's own file errors name the path in a sentence of their own ("EISDIR: illegal operation on a directory, open '/x'").
  if (typeof e?.code === 'string' && e.syscall && (e.path || e.dest)) {
    return { message: `${e.dest ?? e.path}: ${FS_TEXT[e.code] ?? String(e.message).split(',')[0]} (${e.code})`, code: 'filesystem', status: 1 };
  }
  return { message: e?.message ? String(e.message) : String(err), code: 'error', status: 1 };
}
