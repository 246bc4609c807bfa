import { homedir } from 'node:os';
import path from 'node:path';
import { StateDir } from '@flotilla/pki';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/** Where the CLI looks for its credentials and the manager's address: $FLOTILLA_CONFIG_DIR or ~/.flotilla. */
export function cliConfigDir(): string {
  return process.env.FLOTILLA_CONFIG_DIR ?? path.join(homedir(), '.flotilla');
}

/** Gives the operator's CLI what it needs to call the control API: the CA, its certificate (key 0600), the address. */
export function writeCliConfig(dir: string, identity: ManagerIdentity, address: string): void {
  const config = new StateDir(dir);
  config.write('ca.crt', identity.ca.certPem);
  config.write('operator.crt', identity.operator.certPem);
  config.write('operator.key', identity.operator.keyPem, true);
  config.write('manager', `${address}\n`);
}
