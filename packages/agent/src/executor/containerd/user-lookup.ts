import { RejectedError } from '../executor.js';

/** A container's user as the runtime needs it: numeric IDs, with the groups it is a member of. */
export interface ContainerUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
  /** The account's home directory: HOME, when the image and service set none. */
  home?: string;
}

/** The image's account files, as far as they exist. */
export interface AccountFiles {
  passwd?: string;
  group?: string;
}

/** The user IDs a `user:` setting names (numeric only: see resolveUser). */
export interface ResolvedUser {
  uid: number;
  gid: number;
}

/** `user:` as uid[:gid] (names are resolved against the image's files first: see resolveContainerUser). */
export function resolveUser(user: string): ResolvedUser {
  if (user === '' || user === 'root' || user === 'root:root') return { uid: 0, gid: 0 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  // Without the image's passwd, a bare uid gets group 0, as Docker gives a uid it cannot look up.
  if (!m) {
    throw new RejectedError(`user "${user}": give a user name, or a numeric uid[:gid]`);
  }
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : 0 };
}

/**
 * Whether a `user:` setting needs the image's /etc/passwd or /etc/group: a name, or a uid without a numeric group
 * (Docker takes its group and home from passwd). Only an empty setting or both IDs numeric do without.
 */
export function needsAccountFiles(user: string): boolean {
  const [name = '', group] = user.split(':');
  if (name === '') return false;
  return !/^\d+$/.test(name) || group === undefined || group === '' || !/^\d+$/.test(group);
}

/**
 * Resolves `user:` (`name`, `uid`, `name:group`, `uid:gid`, …) against the image's /etc/passwd and /etc/group, as
 * Docker does: a name takes its primary group from passwd, an explicit group wins, and the user keeps the
 * groups /etc/group lists it in. A name the image does not know rejects the task, saying so.
 */
export function resolveContainerUser(user: string, files: AccountFiles): ContainerUser {
  if (user === '') return { uid: 0, gid: 0 };
  const [name = '', groupPart] = user.split(':');
  const accounts = parseColonFile(files.passwd);
  const groups = parseColonFile(files.group);
  let uid: number;
  let gid: number | undefined;
  let account: string[] | undefined;
  if (/^\d+$/.test(name)) {
    uid = Number(name);
    account = accounts.find((a) => Number(a[2]) === uid);
  } else {
    account = accounts.find((a) => a[0] === name);
    if (!account) {
      throw new RejectedError(`user "${name}" is not in the image's /etc/passwd: use a numeric uid, or add the user`);
    }
    uid = Number(account[2]);
  }
  if (account && /^\d+$/.test(account[3] ?? '')) gid = Number(account[3]);
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const group = groups.find((g) => g[0] === groupPart);
      if (!group) {
        throw new RejectedError(`group "${groupPart}" is not in the image's /etc/group: use a numeric gid, or add it`);
      }
      gid = Number(group[2]);
    }
  }
  const accountName = account?.[0];
  const additionalGids = accountName
    ? groups
        .filter((g) => (g[3] ?? '').split(',').includes(accountName))
        .map((g) => Number(g[2]))
        .filter((g) => Number.isInteger(g) && g !== gid)
    : [];
  const home = account?.[5];
  return {
    uid,
    gid: gid ?? 0,
    ...(additionalGids.length > 0 ? { additionalGids } : {}),
    ...(home ? { home } : {}),
  };
}

function parseColonFile(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}
