import { homedir } from 'node:os';
import path from 'node:path';
import type { LEntry, LMap, LNode, LScalar } from './yaml/located.js';

/**
 * The file paths a stack file holds, rewritten. A service extended from another file, and everything an included
 * file declares, had its relative paths written from that file's directory; they are made absolute here, before
 * they are merged into a stack whose other paths are relative to the first file's directory. `~/` is the home
 * directory wherever a path is read from the client's disk.
 */
export type PathRewrite = (written: string) => string;

/** `~` or `~/…`: the home directory (of the user that runs the CLI, as a shell expands it). */
export const expandHome: PathRewrite = (p) => (p === '~' || p.startsWith('~/') ? path.join(homedir(), p.slice(1)) : p);

/** A relative path made absolute from `dir`; absolute and `~` paths are left as they are. */
export function fromDir(dir: string): PathRewrite {
  return (p) => (p === '' || path.isAbsolute(p) || p.startsWith('~') ? p : path.resolve(dir, p));
}

/** The paths of one service: env_file, label_file, bind mount sources, build context, seccomp profile, extends.file. */
export function rewriteServicePaths(service: LNode, rewrite: PathRewrite): LNode {
  if (service.kind !== 'map') return service;
  return mapEntries(service, (key, value) => {
    switch (key) {
      case 'env_file':
        return eachItem(value, (item) => (item.kind === 'map' ? atKey(item, 'path', rewrite) : scalar(item, rewrite)));
      case 'label_file':
        return eachItem(value, (item) => scalar(item, rewrite));
      case 'volumes':
        return eachItem(value, (item) => (item.kind === 'map' ? bindSource(item, rewrite) : shortBind(item, rewrite)));
      case 'build':
        return value.kind === 'map' ? atKey(value, 'context', localOnly(rewrite)) : scalar(value, localOnly(rewrite));
      case 'security_opt':
        return eachItem(value, (item) => seccompFile(item, rewrite));
      case 'extends':
        return value.kind === 'map' ? atKey(value, 'file', rewrite) : value;
      default:
        return value;
    }
  });
}

/** The paths of a whole project: every service's, the files of configs and secrets, local bind volumes' devices. */
export function rewriteProjectPaths(root: LMap, rewrite: PathRewrite): LMap {
  return mapEntries(root, (key, value) => {
    if (value.kind !== 'map') return value;
    switch (key) {
      case 'services':
        return mapEntries(value, (_name, service) => rewriteServicePaths(service, rewrite));
      case 'configs':
      case 'secrets':
        return mapEntries(value, (_name, object) => (object.kind === 'map' ? atKey(object, 'file', rewrite) : object));
      case 'volumes':
        return mapEntries(value, (_name, volume) => bindDevice(volume, rewrite));
      default:
        return value;
    }
  });
}

/** A map with some values replaced; the same object when nothing changed (most of a stack holds no paths). */
function mapEntries(map: LMap, change: (key: string, value: LNode) => LNode): LMap {
  let entries: Map<string, LEntry> | undefined;
  for (const [key, entry] of map.entries) {
    const value = change(key, entry.value);
    if (value === entry.value) continue;
    entries ??= new Map(map.entries);
    entries.set(key, { ...entry, value });
  }
  return entries ? { ...map, entries } : map;
}

/** A value that may be one item or a list of them. */
function eachItem(node: LNode, change: (item: LNode) => LNode): LNode {
  if (node.kind !== 'seq') return change(node);
  let changed = false;
  const items = node.items.map((item) => {
    const next = change(item);
    changed ||= next !== item;
    return next;
  });
  return changed ? { ...node, items } : node;
}

function atKey(map: LMap, key: string, rewrite: PathRewrite): LMap {
  return mapEntries(map, (k, value) => (k === key ? scalar(value, rewrite) : value));
}

function scalar(node: LNode, rewrite: PathRewrite): LNode {
  if (node.kind !== 'scalar' || typeof node.value !== 'string') return node;
  const value = rewrite(node.value);
  return value === node.value ? node : ({ ...node, value } satisfies LScalar);
}

/** A build context may be a URL (git, https): only a local one is a path. */
function localOnly(rewrite: PathRewrite): PathRewrite {
  return (p) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) || p.startsWith('git@') ? p : rewrite(p));
}

/** `SOURCE:TARGET[:MODE]` where SOURCE is a path (`.`, `/` or `~`); a named volume's name is not one. */
function shortBind(node: LNode, rewrite: PathRewrite): LNode {
  if (node.kind !== 'scalar' || typeof node.value !== 'string') return node;
  const colon = node.value.indexOf(':');
  const source = colon < 0 ? '' : node.value.slice(0, colon);
  if (!/^[.~]/.test(source)) return node;
  const value = rewrite(source) + node.value.slice(colon);
  return value === node.value ? node : { ...node, value };
}

function bindSource(map: LMap, rewrite: PathRewrite): LNode {
  const type = map.entries.get('type')?.value;
  return type?.kind === 'scalar' && type.value === 'bind' ? atKey(map, 'source', rewrite) : map;
}

function seccompFile(node: LNode, rewrite: PathRewrite): LNode {
  if (node.kind !== 'scalar' || typeof node.value !== 'string') return node;
  const match = /^(\s*seccomp\s*[=:])(.+)$/.exec(node.value);
  if (!match || match[2]?.trim() === 'unconfined') return node;
  const value = (match[1] as string) + rewrite((match[2] as string).trim());
  return value === node.value ? node : { ...node, value };
}

/** A local volume that binds a host directory (`driver_opts: {o: bind, device: ./data}`). */
function bindDevice(volume: LNode, rewrite: PathRewrite): LNode {
  if (volume.kind !== 'map') return volume;
  const driver = volume.entries.get('driver')?.value;
  if (driver && !(driver.kind === 'scalar' && (driver.value === 'local' || driver.value === null))) return volume;
  const opts = volume.entries.get('driver_opts')?.value;
  if (opts?.kind !== 'map') return volume;
  const o = opts.entries.get('o')?.value;
  if (!(o?.kind === 'scalar' && String(o.value).split(',').includes('bind'))) return volume;
  return mapEntries(volume, (key, value) =>
    key === 'driver_opts' && value.kind === 'map' ? atKey(value, 'device', rewrite) : value,
  );
}
