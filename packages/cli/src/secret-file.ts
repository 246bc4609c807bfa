import { readFileSync } from 'node:fs';
import { Code, FlotillaError } from '@flotilla/api';

/**
 * The first line of a file that holds a secret (a password, a passphrase): a trailing newline is not part of it,
 * and the secret is never taken as an argument, where `ps` would show it. `flag` names the option in errors.
 */
export function readSecretFile(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  const secret = text.split(/\r?\n/)[0] ?? '';
  if (!secret)
    throw new FlotillaError(Code.InvalidArgument, `${flag} ${file} is empty: put the secret on its first line`);
  return secret;
}
