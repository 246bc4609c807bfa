import { ADMISSION_REFUSED, admissionRefusals, FlotillaError } from '@flotilla/api';
import { type Diagnostic, formatDiagnostics, type LoadedStack } from '@flotilla/stack';
import type { Io } from './io.js';

/**
 * Runs a deploy (or its dry run); when the cluster's admission policy refuses it, prints each refusal at its
 * file:line:col in the user's stack files, as `stack validate` prints problems, and fails with a summary.
 */
export async function withAdmission<T>(io: Io, loaded: LoadedStack, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const failure = FlotillaError.from(err);
    const refusals = admissionRefusals(failure);
    if (refusals.length === 0) throw err;
    const diagnostics = refusals.map((r): Diagnostic => {
      const location = loaded.locate(r.path);
      return {
        severity: 'error',
        code: 'admission-refused',
        path: r.path,
        message: r.message,
        ...(location ? { location } : {}),
      };
    });
    io.err(`${formatDiagnostics(diagnostics)}\n`);
    const count = `${refusals.length} setting${refusals.length === 1 ? '' : 's'}`;
    throw new FlotillaError(
      failure.code,
      `the cluster's admission policy refuses ${count} of this stack (nothing was changed): change the lines above, or the cluster setting each names`,
      { reason: ADMISSION_REFUSED },
    );
  }
}
