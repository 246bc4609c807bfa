import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from '@commander-js/extra-typings';
import { Code, type ControlServiceClient, FlotillaError } from '@flotilla/api';
import { Metadata } from '@grpc/grpc-js';
import { usageError } from '../exit-codes.js';
import { followStream } from '../follow-stream.js';
import type { Io } from '../io.js';
import { readSecretFile } from '../secret-file.js';
import { hostPort } from './daemons.js';

const PASSPHRASE_ENV = 'FLOTILLA_BACKUP_PASSPHRASE';

/** The passphrase: the first line of --passphrase-file, else $FLOTILLA_BACKUP_PASSPHRASE (never an argument). */
function passphrase(file: string | undefined): string {
  if (file) return readSecretFile(file, '--passphrase-file');
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (!fromEnv) throw usageError(`give the passphrase with --passphrase-file FILE or $${PASSPHRASE_ENV}`);
  return fromEnv;
}

const passphraseOption = () =>
  new Option('--passphrase-file <FILE>', `file whose first line is the passphrase (else $${PASSPHRASE_ENV})`);

const collect = (value: string, previous: string[]) => [...previous, value];

/** `cluster backup FILE` and `cluster restore FILE`, added to the `cluster` command. */
export function addBackupCommands(cluster: Command, io: Io, client: () => ControlServiceClient): void {
  cluster
    .command('backup')
    .description('write a backup of the cluster (its state and CA, encrypted with a passphrase) to FILE')
    .argument('<FILE>', 'where to write it (mode 0600)')
    .addOption(passphraseOption())
    .action(async (file, opts) => {
      const secret = passphrase(opts.passphraseFile);
      const c = client();
      const parts: Buffer[] = [];
      await followStream(c.backupCluster({ passphrase: secret }, new Metadata()), (m) =>
        parts.push(Buffer.from(m.chunk)),
      ).finally(() => c.close());
      const bytes = Buffer.concat(parts);
      const { readBackupHeader } = await import('@flotilla/manager');
      // A stream cut short (Ctrl-C, a manager gone) leaves no file: what is written is a whole backup.
      let header: ReturnType<typeof readBackupHeader>;
      try {
        header = readBackupHeader(bytes, 'the backup received');
      } catch {
        throw new FlotillaError(Code.Unavailable, 'the backup was not received whole: nothing was written; try again');
      }
      const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.part`);
      try {
        writeFileSync(temp, bytes, { mode: 0o600 });
        renameSync(temp, file);
      } finally {
        rmSync(temp, { force: true });
      }
      io.out(`${file}\n`);
      io.err(
        `backup of cluster ${header.clusterId}: ${header.objects} objects at etcd revision ${header.revision}, ` +
          `${bytes.length} bytes; keep the passphrase apart from the file\n`,
      );
    });

  cluster
    .command('restore')
    .description(
      'bring a cluster back from a backup as a new single-manager cluster, in a new state directory and its own etcd member (or an empty external etcd)',
    )
    .argument('<FILE>', 'a backup made by `cluster backup`')
    .requiredOption('--state-dir <DIR>', 'a new, empty state directory for the manager that will run it')
    .option('--listen <HOST:PORT>', 'the address its manager will listen on (its etcd member goes beside it)')
    .addOption(
      new Option(
        '--etcd-listen-client <HOST:PORT>',
        "its etcd member's client address (default: port 2379 on --listen's host)",
      ).argParser(hostPort('--etcd-listen-client', '10.0.0.1:2379')),
    )
    .addOption(
      new Option(
        '--etcd-listen-peer <HOST:PORT>',
        "its etcd member's peer address (default: port 2380 on --listen's host)",
      ).argParser(hostPort('--etcd-listen-peer', '10.0.0.1:2380')),
    )
    .addOption(
      new Option('--etcd <URL>', 'an empty external etcd to restore into instead; repeat for several')
        .argParser(collect)
        .default([] as string[]),
    )
    .option('--etcd-cacert <FILE>', 'CA certificate to verify the external etcd with (TLS)')
    .option('--etcd-cert <FILE>', 'client certificate for the external etcd')
    .option('--etcd-key <FILE>', 'client key for the external etcd')
    .addOption(passphraseOption())
    .action(async (file, opts) => {
      const external = opts.etcd.length > 0;
      if (!external && !opts.listen) {
        throw usageError(
          'give --listen HOST:PORT (where the restored manager will listen), or --etcd URL for an external etcd',
        );
      }
      const secret = passphrase(opts.passphraseFile);
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new FlotillaError(Code.NotFound, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
      const { embeddedEtcd, restoreCluster } = await import('@flotilla/manager');
      const tls = opts.etcdCacert
        ? { caFile: opts.etcdCacert, certFile: opts.etcdCert, keyFile: opts.etcdKey }
        : undefined;
      const listen = opts.listen ?? '';
      const etcd = external
        ? { endpoints: opts.etcd, ...(tls ? { tls } : {}) }
        : {
            embedded: embeddedEtcd(
              {
                stateDir: opts.stateDir,
                embeddedEtcd: {
                  ...(opts.etcdListenClient ? { listenClient: opts.etcdListenClient } : {}),
                  ...(opts.etcdListenPeer ? { listenPeer: opts.etcdListenPeer } : {}),
                },
              },
              listen.slice(0, listen.lastIndexOf(':')),
            ),
          };
      const restored = await restoreCluster({
        backup: { bytes, name: file },
        passphrase: secret,
        etcd,
        stateDir: opts.stateDir,
        // Agents and the CLI ask for the manager by its role's name (flotilla-manager), whatever address they dial.
        advertise: { hosts: [], ips: [] },
      });
      const start = external
        ? `--etcd ${opts.etcd.join(' --etcd ')} --listen HOST:PORT`
        : `--listen ${listen}${opts.etcdListenClient ? ` --etcd-listen-client ${opts.etcdListenClient}` : ''}${opts.etcdListenPeer ? ` --etcd-listen-peer ${opts.etcdListenPeer}` : ''}`;
      io.out(`${restored.clusterId}\n`);
      io.err(
        `restored cluster ${restored.clusterId} (${restored.objects} objects, backup of ${restored.takenAt}); ` +
          `start its manager: flotilla manager start --state-dir ${opts.stateDir} ${start}\n`,
      );
    });
}
