import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import type { Logger } from '@flotilla/observability';
import { StateDir } from '@flotilla/pki';
import type { ManagerIdentity } from './cluster-bootstrap.js';

/** Gives the operator's CLI what it needs to call the control API: the CA, its certificate (key 0600), the address. */
export function writeCliConfig(dir: string, identity: ManagerIdentity, address: string): void {
  const config = new StateDir(dir);
  config.write('ca.crt', identity.ca.certPem);
  config.write('operator.crt', identity.operator.certPem);
  config.write('operator.key', identity.operator.keyPem, true);
  config.write('manager', `${address}\n`);
  // A list left by another cluster (one without this manager) would send the CLI there: it goes. A list that
  // names this manager stays until the election refreshes it, so a restart while etcd is away keeps failover.
  const listed = config.file('managers');
  if (existsSync(listed) && !readFileSync(listed, 'utf8').split('\n').includes(address)) rmSync(listed);
}

/**
 * Keeps the live managers (one address a line, the leader first) beside the CLI's configuration: the CLI turns to
 * them when the manager it was configured with does not answer. Replaced whole (a rename), so a CLI never reads
 * half a list.
 */
export function writeCliManagers(dir: string, managers: readonly string[]): void {
  const config = new StateDir(dir);
  // A name of its own: two managers sharing a configuration directory never rename each other's half-written file.
  const draft = `managers.${process.pid}.${randomBytes(4).toString('hex')}`;
  config.write(draft, managers.map((m) => `${m}\n`).join(''));
  renameSync(config.file(draft), config.file('managers'));
}

/** Keeps the CLI's list of managers as the election sees them; a list that cannot be written is said in the log. */
export function cliManagersWriter(dir: string, log: Logger): (managers: readonly string[]) => void {
  return (managers) => {
    try {
      writeCliManagers(dir, managers);
    } catch (err) {
      log.warn({ err: (err as Error).message, dir }, 'could not write the list of managers for the CLI');
    }
  };
}
