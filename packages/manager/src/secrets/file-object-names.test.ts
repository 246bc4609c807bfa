import { FileObjectKind } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { checkFileObjectName, checkKind, MAX_FILE_OBJECT_NAME } from './file-object-names.js';

const SECRET = FileObjectKind.FILE_OBJECT_KIND_SECRET;
const CONFIG = FileObjectKind.FILE_OBJECT_KIND_CONFIG;

describe('secret and config names', () => {
  it("takes Docker's names, up to the longest", () => {
    for (const name of ['db', 'DB_password', 'a.b-c_d', '9lives', 'x'.repeat(MAX_FILE_OBJECT_NAME)]) {
      expect(() => checkFileObjectName(SECRET, name)).not.toThrow();
    }
  });

  it('refuses an empty, too long or badly made name, saying what a name may hold', () => {
    expect(() => checkFileObjectName(SECRET, '')).toThrow(/a secret needs a name/);
    expect(() => checkFileObjectName(CONFIG, 'x'.repeat(MAX_FILE_OBJECT_NAME + 1))).toThrow(
      new RegExp(`config name .*at most ${MAX_FILE_OBJECT_NAME} characters`),
    );
    for (const name of ['-db', '_db', '.db', 'db/pw', 'db pw', 'db:1', 'é']) {
      expect(() => checkFileObjectName(SECRET, name)).toThrow(/letters, digits/);
    }
  });

  it('refuses a kind that is neither secret nor config', () => {
    expect(() => checkKind(FileObjectKind.FILE_OBJECT_KIND_UNSPECIFIED)).toThrow(/secret or a config/);
    expect(() => checkKind(SECRET)).not.toThrow();
    expect(() => checkKind(CONFIG)).not.toThrow();
  });
});
