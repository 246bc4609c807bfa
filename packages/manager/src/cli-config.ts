import { renameSync } from 'node:fs';
import { StateDir } from '@flotilla/pki';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/** Gives the operator's CLI what it needs to call the control API: the CA, its certificate (key 0600), the address. */
export function writeCliConfig(dir: string, identity: ManagerIdentity, address: string): void {
  const config = new StateDir(dir);
  config.write('ca.crt', identity.ca.certPem);
  config.write('operator.crt', identity.operator.certPem);
  config.write('operator.key', identity.operator.keyPem, true);
  config.write('manager', `${address}\n`);
}

/**
 * Keeps the live managers (one address a line, the leader first) beside the CLI's configuration: the CLI turns to
 * them when the manager it was configured with does not answer. Replaced whole (a rename), so a CLI never reads
 * half a list.
 */
export function writeCliManagers(dir: string, managers: readonly string[]): void {
  const config = new StateDir(dir);
  config.write('managers.new', managers.map((m) => `${m}\n`).join(''));
  renameSync(config.file('managers.new'), config.file('managers'));
}
