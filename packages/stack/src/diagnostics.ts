/** Where a problem is: a file and a 1-based line and column. */
export interface Location {
  file: string;
  line: number;
  col: number;
}

export type DiagnosticCode =
  | 'yaml-syntax'
  | 'duplicate-key'
  | 'invalid-type'
  | 'invalid-value'
  | 'unknown-key'
  | 'missing-key'
  | 'undefined-variable'
  | 'undefined-reference'
  | 'dependency-cycle'
  | 'limit-exceeded'
  | 'file-error'
  | 'unsupported-key'
  | 'admission-refused';

export interface Diagnostic {
  severity: 'error' | 'warning';
  code: DiagnosticCode;
  /** Dotted path in the stack, e.g. `services.web.deploy.replicas`; empty for file-level problems. */
  path: string;
  message: string;
  location?: Location;
}

export type StackErrorCode = 'invalid-stack' | 'internal';

/** The one error class of the stack domain: what went wrong, with every problem found, each with its place. */
export class StackError extends Error {
  override readonly name = 'StackError';

  constructor(
    readonly code: StackErrorCode,
    readonly diagnostics: Diagnostic[],
    message?: string,
  ) {
    super(message ?? summarize(diagnostics));
  }

  static from(err: unknown): StackError {
    if (err instanceof StackError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new StackError('internal', [{ severity: 'error', code: 'file-error', path: '', message }], message);
  }

  /** All diagnostics as `FILE:LINE:COL: path: message` lines, errors first. */
  format(): string {
    return formatDiagnostics(this.diagnostics);
  }
}

function summarize(diagnostics: Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  return `invalid stack: ${errors} error${errors === 1 ? '' : 's'}`;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.location ? `${d.location.file}:${d.location.line}:${d.location.col}: ` : '';
  const level = d.severity === 'warning' ? 'warning: ' : '';
  const path = d.path ? `${d.path}: ` : '';
  return `${where}${level}${path}${d.message}`;
}

export function formatDiagnostics(diagnostics: Diagnostic[]): string {
  return sortDiagnostics(diagnostics).map(formatDiagnostic).join('\n');
}

/** Errors before warnings, then by file, line and column, so output is stable and reads top to bottom. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort((a, b) => {
    if (a.severity !== b.severity) return a.severity === 'error' ? -1 : 1;
    const fa = a.location?.file ?? '';
    const fb = b.location?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.col ?? 0) - (b.location?.col ?? 0);
  });
}
