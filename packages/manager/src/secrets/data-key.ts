import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Code, FileObject, type FileObjectKind, type FileObjectView, FlotillaError } from '@flotilla/api';
import { seal, unseal } from '@flotilla/pki';

/** The most a secret or config may hold, as in Swarm. */
export const MAX_FILE_OBJECT_BYTES = 500 * 1024;

/** What the data key is sealed for in the Cluster object (a key derived from the CA key with this purpose). */
export const DATA_KEY_PURPOSE = 'secrets data key';

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The cluster's data key: every secret's and config's content is sealed with it (AES-256-GCM, the object's ID as
 * associated data, so a sealed value moved to another ID does not open). Only managers hold it, in memory, opened
 * from the Cluster object with the CA key.
 */
export class DataKey {
  private readonly macKey: Buffer;

  private constructor(private readonly key: Buffer) {
    this.macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'flotilla content mac', KEY_BYTES));
  }

  static generate(): DataKey {
    return new DataKey(randomBytes(KEY_BYTES));
  }

  /** Opens the Cluster object's sealed data key with the CA key; refused (PermissionDenied) with any other key. */
  static unsealWith(caKeyPem: string, sealed: Uint8Array): DataKey {
    const key = Buffer.from(unseal(caKeyPem, DATA_KEY_PURPOSE, sealed), 'base64');
    if (key.length !== KEY_BYTES) throw new FlotillaError(Code.Internal, 'the sealed data key has the wrong length');
    return new DataKey(key);
  }

  /** This key sealed with the CA key, for the Cluster object. */
  sealWith(caKeyPem: string): Buffer {
    return seal(caKeyPem, DATA_KEY_PURPOSE, this.key.toString('base64'));
  }

  /** nonce | ciphertext | tag. */
  seal(id: string, content: Uint8Array): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(id));
    const body = Buffer.concat([cipher.update(content), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]);
  }

  /** The content seal() sealed for this ID; anything else (another ID, another key, a changed byte) is refused. */
  open(id: string, sealed: Uint8Array): Buffer {
    const data = Buffer.from(sealed);
    if (data.length < NONCE_BYTES + TAG_BYTES) throw unopenable(id);
    const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw unopenable(id);
    }
  }

  /** Equal for equal contents, and says nothing of them without the key. */
  mac(content: Uint8Array): Buffer {
    return createHmac('sha256', this.macKey).update(content).digest();
  }
}

/** Never the content, nor why in detail: only which object. */
function unopenable(id: string): FlotillaError {
  return new FlotillaError(Code.Internal, `the stored content of ${id} does not open with the cluster's data key`);
}

export interface NewFileObject {
  id: string;
  kind: FileObjectKind;
  name: string;
  labels?: Record<string, string>;
  /** Empty: made with `secret create` / `config create`. */
  stack?: string;
  version: bigint;
  content: Uint8Array;
  nowMs?: number;
}

/** A version ready to store: sealed, with its MAC; refused over MAX_FILE_OBJECT_BYTES. */
export function sealFileObject(key: DataKey, o: NewFileObject): FileObject {
  if (o.content.length > MAX_FILE_OBJECT_BYTES) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${o.name}: ${o.content.length} bytes is more than a secret or config may hold (${MAX_FILE_OBJECT_BYTES} bytes)`,
    );
  }
  return FileObject.fromPartial({
    id: o.id,
    kind: o.kind,
    name: o.name,
    labels: o.labels ?? {},
    stack: o.stack ?? '',
    version: o.version,
    createdAtMs: BigInt(o.nowMs ?? Date.now()),
    size: o.content.length,
    sealed: key.seal(o.id, o.content),
    contentMac: key.mac(o.content),
  });
}

/** What the control API shows of a version: never its content, sealed or not. */
export function fileObjectView(o: FileObject, usedBy: string[] = []): FileObjectView {
  return {
    id: o.id,
    kind: o.kind,
    name: o.name,
    labels: o.labels,
    stack: o.stack,
    version: o.version,
    createdAtMs: o.createdAtMs,
    size: o.size,
    usedBy,
  };
}
