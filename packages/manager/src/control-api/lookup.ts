import type { Kind, ObjectOf, Store, Versioned } from '@flotilla/store';

/**
 * The object whose ID is exactly `ref`, if any. What the store refuses as an ID (empty, or with a slash: a name,
 * say) is no object's ID: the caller goes on to match it by prefix or name, and an etcd outage fails that list.
 */
export async function byExactId<K extends Kind>(
  store: Store,
  kind: K,
  ref: string,
): Promise<Versioned<ObjectOf<K>> | undefined> {
  if (!ref) return undefined;
  return store.get(kind, ref).catch(() => undefined);
}
