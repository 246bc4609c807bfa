import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * A manager's or agent's state directory: mode 0700, and every secret in it (keys, tokens) mode 0600, so only
 * the user the process runs as can read them.
 */
export class StateDir {
  constructor(readonly path: string) {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    chmodSync(path, 0o700);
  }

  file(name: string): string {
    return path.join(this.path, name);
  }

  has(name: string): boolean {
    return existsSync(this.file(name));
  }

  read(name: string): string {
    return readFileSync(this.file(name), 'utf8');
  }

  write(name: string, content: string, secret = false): void {
    const file = this.file(name);
    writeFileSync(file, content, { mode: secret ? 0o600 : 0o644 });
    chmodSync(file, secret ? 0o600 : 0o644);
  }

  /**
   * Writes a file whole or not at all: a draft of its own (mode set before any byte is written), then a rename. A
   * crash meanwhile leaves the old file, never half a certificate or key.
   */
  replace(name: string, content: string, secret = false): void {
    const draft = `.${name}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      this.write(draft, content, secret);
      renameSync(this.file(draft), this.file(name));
    } catch (err) {
      rmSync(this.file(draft), { force: true });
      throw err;
    }
  }
}

/** Where the CLI keeps its operator credentials and the manager's address: $FLOTILLA_CONFIG_DIR or ~/.flotilla. */
export function cliConfigDir(): string {
  return process.env.FLOTILLA_CONFIG_DIR ?? path.join(homedir(), '.flotilla');
}
