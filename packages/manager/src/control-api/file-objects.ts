import {
  Code,
  type ControlServiceServer,
  type FileObject,
  FileObjectKind,
  FlotillaError,
  isId,
  newId,
} from '@flotilla/api';
import type { Store, Versioned } from '@flotilla/store';
import type { DataKey } from '../secrets/data-key.js';
import { fileObjectView, sealFileObject } from '../secrets/data-key.js';
import { checkFileObjectName, checkKind, kindWord } from '../secrets/file-object-names.js';
import { FileObjectUse } from '../secrets/file-references.js';
import type { Handle } from './handler.js';

/**
 * Secrets and configs (`secret create|ls|inspect|rm`, `config …`): content goes in sealed with the cluster's data
 * key and never comes out, but a config's on `reveal`. No message here ever holds content.
 */
export function fileObjectControl(
  store: Store,
  handle: Handle,
  dataKey: DataKey | undefined,
): Pick<ControlServiceServer, 'createFileObject' | 'listFileObjects' | 'getFileObject' | 'removeFileObject'> {
  const key = (): DataKey => {
    if (!dataKey) throw new FlotillaError(Code.FailedPrecondition, 'only a manager holds secrets and configs');
    return dataKey;
  };
  // Writes reach the leader (forward-writes): one create at a time there, so two creates of a name make one.
  let creating: Promise<unknown> = Promise.resolve();
  return {
    createFileObject: handle(async (request) => {
      checkKind(request.kind);
      checkFileObjectName(request.kind, request.name);
      const create = async () => {
        const what = kindWord(request.kind);
        const existing = (await kindObjects(store, request.kind)).filter((o) => o.value.name === request.name);
        if (existing.length > 0) {
          throw new FlotillaError(
            Code.AlreadyExists,
            `${what} ${request.name} exists: remove it first (flotilla ${what} rm ${request.name}), or choose another name`,
          );
        }
        const object = sealFileObject(key(), {
          id: newId(),
          kind: request.kind,
          name: request.name,
          labels: request.labels,
          version: 1n,
          content: request.data,
        });
        await store.create('files', object.id, object);
        return { object: fileObjectView(object) };
      };
      const created = creating.then(create, create);
      creating = created.catch(() => undefined);
      return created;
    }),

    listFileObjects: handle(async (request) => {
      checkKind(request.kind);
      const [objects, use] = await Promise.all([kindObjects(store, request.kind), currentUse(store)]);
      const views = objects
        .map((o) => fileObjectView(o.value, use.usedBy(o.id)))
        .sort((a, b) => a.name.localeCompare(b.name) || Number(a.version - b.version));
      return { objects: views };
    }),

    getFileObject: handle(async (request) => {
      checkKind(request.kind);
      const what = kindWord(request.kind);
      if (request.reveal && request.kind !== FileObjectKind.FILE_OBJECT_KIND_CONFIG) {
        throw new FlotillaError(Code.PermissionDenied, `a ${what}'s content is never shown: only a config's is`);
      }
      const [object] = resolve(await kindObjects(store, request.kind), request.kind, request.nameOrId, 'newest');
      const found = object as Versioned<FileObject>;
      const view = fileObjectView(found.value, (await currentUse(store)).usedBy(found.id));
      const data = request.reveal ? key().open(found.id, found.value.sealed) : Buffer.alloc(0);
      return { object: view, data };
    }),

    removeFileObject: handle(async (request) => {
      checkKind(request.kind);
      const what = kindWord(request.kind);
      const versions = resolve(await kindObjects(store, request.kind), request.kind, request.nameOrId, 'all');
      const use = await currentUse(store);
      const users = [...new Set(versions.flatMap((v) => use.usedBy(v.id)))].sort();
      if (users.length > 0) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${what} ${request.nameOrId} is in use by ${users.join(', ')}: remove or update ${
            users.length === 1 ? 'that service' : 'those services'
          } first`,
        );
      }
      // Each version only as it was read: one changed meanwhile (a deploy took it up) stays.
      await store.batch(
        versions.map((v) => ({ op: 'delete', kind: 'files', id: v.id, version: v.version })),
        { atomic: { what: `the versions of ${what} ${request.nameOrId}` } },
      );
      return {};
    }),
  };
}

async function kindObjects(store: Store, kind: FileObjectKind): Promise<Versioned<FileObject>[]> {
  return (await store.list('files')).items.filter((o) => o.value.kind === kind);
}

async function currentUse(store: Store): Promise<FileObjectUse> {
  const [services, tasks] = await Promise.all([store.list('services'), store.list('tasks')]);
  return new FileObjectUse(
    services.items.map((s) => s.value),
    tasks.items.map((t) => t.value),
  );
}

/**
 * The versions `nameOrId` names: an ID names its own version; a name names every version of it (`newest`: the
 * newest one only). None: NotFound, pointing to `ls`.
 */
function resolve(
  objects: Versioned<FileObject>[],
  kind: FileObjectKind,
  nameOrId: string,
  which: 'newest' | 'all',
): Versioned<FileObject>[] {
  const what = kindWord(kind);
  const byId = isId(nameOrId) ? objects.filter((o) => o.id === nameOrId) : [];
  const found = byId.length > 0 ? byId : objects.filter((o) => o.value.name === nameOrId);
  if (found.length === 0) {
    throw new FlotillaError(Code.NotFound, `no ${what} ${nameOrId}: see flotilla ${what} ls`);
  }
  if (which === 'all') return found;
  return [found.reduce((a, b) => (b.value.version > a.value.version ? b : a))];
}
