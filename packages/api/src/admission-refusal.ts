import { Code } from './code.js';
import { FlotillaError } from './flotilla-error.js';

/**
 * One thing the cluster's admission policy refuses in a deploy: where it is in the stack file, as a Compose key
 * path (`services.web.cap_add[0]`), and why, with the setting that would allow it.
 */
export interface AdmissionRefusal {
  path: string;
  message: string;
}

/** The reason on the error of a refused deploy: the CLI then maps each refusal's path to its file:line:col. */
export const ADMISSION_REFUSED = 'admission-refused';

const LINE_PREFIX = '  - ';
const MAX_LISTED = 50;
const MAX_LINE = 400;

function clip(text: string): string {
  return text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}…` : text;
}

/**
 * The error of a refused deploy. The refusals travel in the message, one `  - PATH: why` line each, so that any
 * gRPC client reads them as they are and the CLI can point each into the user's files.
 */
export function admissionError(what: string, refusals: readonly AdmissionRefusal[]): FlotillaError {
  // A gRPC status travels in a header: a hand-made request with thousands of refusals gets the first ones.
  const lines = refusals.slice(0, MAX_LISTED).map((r) => `${LINE_PREFIX}${clip(r.path)}: ${clip(r.message)}`);
  if (refusals.length > MAX_LISTED) lines.push(`  (and ${refusals.length - MAX_LISTED} more)`);
  const count = `${refusals.length} setting${refusals.length === 1 ? '' : 's'}`;
  return new FlotillaError(
    Code.PermissionDenied,
    `${what} is refused by the cluster's admission policy (${count}); nothing was changed:\n${lines.join('\n')}`,
    { reason: ADMISSION_REFUSED },
  );
}

/** The refusals an admission error carries; none for any other error. */
export function admissionRefusals(err: FlotillaError): AdmissionRefusal[] {
  if (err.reason !== ADMISSION_REFUSED) return [];
  const out: AdmissionRefusal[] = [];
  for (const line of err.message.split('\n')) {
    if (!line.startsWith(LINE_PREFIX)) continue;
    const body = line.slice(LINE_PREFIX.length);
    // A key path holds no ": " (service names are letters, digits, _ . -), so the first one ends it.
    const at = body.indexOf(': ');
    if (at > 0) out.push({ path: body.slice(0, at), message: body.slice(at + 2) });
  }
  return out;
}
