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
