import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LIMITS } from './limits.js';

/** Source of file contents: real files by default, anything in tests. */
export interface FileSource {
  read(file: string): string;
  /** A file's bytes as they are (a secret may be binary); default: read()'s text. */
  readBytes?(file: string): Buffer;
  exists(file: string): boolean;
}

export const fsSource: FileSource = {
  read(file) {
    const size = statSync(file).size;
    if (size > LIMITS.maxFileBytes) {
      throw new Error(`${file} is ${size} bytes: stack files over ${LIMITS.maxFileBytes} bytes (1 MiB) are refused`);
    }
    return readFileSync(file, 'utf8');
  },
  readBytes(file) {
    return readFileSync(file);
  },
  exists(file) {
    try {
      return statSync(file).isFile();
    } catch {
      // Missing (or unreadable, which reading it says later): not there.
      return false;
    }
  },
};

/** Paths in messages are relative to the working directory when that is shorter, as compilers print them. */
export function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}
