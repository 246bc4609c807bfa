import { gunzipSync, gzipSync } from 'node:zlib';
import { Code, FlotillaError } from '@flotilla/api';
import { caFingerprint, lockWithPassphrase, openWithPassphrase, type PassphraseBox } from '@flotilla/pki';
import { prefixEnd, prefixOf, ROOT } from '@flotilla/store';
import type { Etcd3 } from 'etcd3';

/**
 * A backup: the cluster's keys in etcd read at one revision (a snapshot of Flotilla's part of the store, which
 * restores into any etcd, embedded or not, without etcd's own tools), with the CA certificate and key, all
 * encrypted with a passphrase. Only the header is readable without it.
 */
export interface BackupFile extends PassphraseBox {
  format: typeof FORMAT;
  version: 1;
  clusterId: string;
  takenAt: string;
  /** The etcd revision the keys were read at. */
  revision: string;
  /** SHA-256 of the CA certificate: which cluster's CA the backup brings back. */
  caFingerprint: string;
  objects: number;
}

/** What the encrypted part holds. */
interface BackupContent {
  caCertPem: string;
  caKeyPem: string;
  /** Keys relative to ROOT, values base64. */
  entries: [string, string][];
}

const FORMAT = 'flotilla-backup';

/** What a restore leaves out: who campaigns (leases of managers that are gone) and the managers' own records. */
const SKIPPED = [`${ROOT}election/`, prefixOf('managers')];

/** Backups larger than this are refused on restore before anything is parsed. */
export const MAX_BACKUP_BYTES = 512 * 1024 * 1024;

/** Reads the cluster's keys at one revision and makes the backup (a manager does this: it holds the CA key). */
export async function makeBackup(
  client: Etcd3,
  ca: { clusterId: string; certPem: string; keyPem: string },
  passphrase: string,
  now = new Date(),
): Promise<Buffer> {
  const response = await client.kv.range({ key: Buffer.from(ROOT), range_end: Buffer.from(prefixEnd(ROOT)) });
  const entries: [string, string][] = response.kvs
    .map((kv) => [kv.key.toString(), kv.value] as const)
    .filter(([key]) => !SKIPPED.some((prefix) => key.startsWith(prefix)))
    .map(([key, value]) => [key.slice(ROOT.length), Buffer.from(value).toString('base64')]);
  const content: BackupContent = { caCertPem: ca.certPem, caKeyPem: ca.keyPem, entries };
  const box = await lockWithPassphrase(passphrase, gzipSync(JSON.stringify(content)));
  const file: BackupFile = {
    format: FORMAT,
    version: 1,
    clusterId: ca.clusterId,
    takenAt: now.toISOString(),
    revision: String(response.header.revision),
    caFingerprint: caFingerprint(ca.certPem),
    objects: entries.length,
    ...box,
  };
  return Buffer.from(`${JSON.stringify(file, null, 1)}\n`);
}

/** The header of a backup, checked, without the passphrase. */
export function readBackupHeader(bytes: Buffer, name: string): BackupFile {
  if (bytes.length > MAX_BACKUP_BYTES) {
    throw new FlotillaError(Code.InvalidArgument, `${name} is over ${MAX_BACKUP_BYTES >> 20} MiB: not a backup`);
  }
  let file: Partial<BackupFile>;
  try {
    file = JSON.parse(bytes.toString('utf8')) as Partial<BackupFile>;
  } catch {
    throw new FlotillaError(Code.InvalidArgument, `${name} is not a Flotilla backup (not JSON)`);
  }
  if (file.format !== FORMAT || file.version !== 1 || !file.clusterId || !file.ciphertext) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${name} is not a Flotilla backup of a version this CLI reads (format ${JSON.stringify(file.format)}, version ${JSON.stringify(file.version)})`,
    );
  }
  return file as BackupFile;
}

/** Opens a backup with its passphrase: the CA and the keys, checked against the header. */
export async function openBackup(file: BackupFile, passphrase: string): Promise<BackupContent> {
  const plain = await openWithPassphrase(passphrase, file);
  const content = JSON.parse(gunzipSync(plain).toString('utf8')) as BackupContent;
  if (caFingerprint(content.caCertPem) !== file.caFingerprint || content.entries.length !== file.objects) {
    throw new FlotillaError(Code.InvalidArgument, 'the backup does not match its own header: it was changed');
  }
  return content;
}
