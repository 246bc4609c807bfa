import { Code, FileObjectKind, FlotillaError } from '@flotilla/api';

/** As Docker names secrets and configs: a letter or digit, then letters, digits, `_`, `.`, `-`. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_FILE_OBJECT_NAME = 64;

/** `secret` or `config`, for messages (and the CLI commands they point to). */
export function kindWord(kind: FileObjectKind): 'secret' | 'config' {
  return kind === FileObjectKind.FILE_OBJECT_KIND_CONFIG ? 'config' : 'secret';
}

/** Refuses a name Docker would refuse, saying what a name may hold. */
export function checkFileObjectName(kind: FileObjectKind, name: string): void {
  const what = kindWord(kind);
  if (!name) throw new FlotillaError(Code.InvalidArgument, `a ${what} needs a name`);
  if (name.length > MAX_FILE_OBJECT_NAME) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${what} name ${JSON.stringify(name.slice(0, MAX_FILE_OBJECT_NAME))}…: at most ${MAX_FILE_OBJECT_NAME} characters`,
    );
  }
  if (!NAME_PATTERN.test(name)) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${what} name ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-', starting with a letter or digit`,
    );
  }
}

/** Secrets and configs only: an unset kind is a client's mistake, not a third kind. */
export function checkKind(kind: FileObjectKind): void {
  if (kind !== FileObjectKind.FILE_OBJECT_KIND_SECRET && kind !== FileObjectKind.FILE_OBJECT_KIND_CONFIG) {
    throw new FlotillaError(Code.InvalidArgument, 'say whether this is a secret or a config');
  }
}
