import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LOGS_KEY_PREFIX, nodeLogPattern } from './keys.js';
import { redisFailure } from './redis-failure.js';

/** Redis ACL users of nodes are named `flotilla-node-<nodeId>`; no other user has this prefix. */
export const NODE_USER_PREFIX = 'flotilla-node-';

/**
 * What a node's log shipper needs and nothing more: XADD (it caps with MAXLEN) and EXPIRE in MULTI/EXEC, PING,
 * and CLIENT SETNAME (ioredis names its connection). No read command at all: a node cannot read any stream, its
 * own included, nor the event log.
 */
const NODE_COMMANDS = ['-@all', '+xadd', '+expire', '+multi', '+exec', '+ping', '+client|setname'];

export function nodeUserName(nodeId: string): string {
  nodeLogPattern(nodeId); // refuses what is not a node ID
  return `${NODE_USER_PREFIX}${nodeId}`;
}

/**
 * A node's Redis password: an HMAC of its ID under the managers' own Redis password. Every manager derives the
 * same one (any can lead and tell it to the node) and none is stored; one node's password tells nothing of
 * another's. It changes with the managers' password.
 */
export function nodePassword(managerSecret: string, nodeId: string): string {
  return createHmac('sha256', managerSecret).update(`flotilla-redis-node:${nodeId}`).digest('base64url');
}

/**
 * Creates or resets a node's user: enabled, this password only, write-only access (`%W~`) to the node's own log
 * streams, the shipper's commands only. One ACL SETUSER, which Redis applies whole or not at all.
 */
export async function setNodeUser(
  redis: Redis,
  nodeId: string,
  password: string,
  keyPrefix = LOGS_KEY_PREFIX,
): Promise<void> {
  const rules = [
    'reset',
    'on',
    `>${password}`,
    'resetchannels',
    ...NODE_COMMANDS,
    `%W~${nodeLogPattern(nodeId, keyPrefix)}`,
  ];
  try {
    await redis.call('ACL', 'SETUSER', nodeUserName(nodeId), ...rules);
  } catch (err) {
    // The reply never quotes the rules, but say only which user, to be sure the password stays out of messages.
    const code = typeof err === 'object' && err !== null && 'code' in err ? { code: err.code } : {};
    throw redisFailure(Object.assign(new Error(`${errorCode(err)} (ACL SETUSER ${nodeUserName(nodeId)})`), code));
  }
}

/** Deletes a node's user; Redis closes the connections that authenticated as it. */
export async function deleteNodeUser(redis: Redis, nodeId: string): Promise<void> {
  try {
    await redis.call('ACL', 'DELUSER', nodeUserName(nodeId));
  } catch (err) {
    throw redisFailure(err);
  }
}

/** The IDs of the nodes that have a user now. */
export async function nodeUserIds(redis: Redis): Promise<string[]> {
  try {
    const users = (await redis.call('ACL', 'USERS')) as string[];
    return users.filter((u) => u.startsWith(NODE_USER_PREFIX)).map((u) => u.slice(NODE_USER_PREFIX.length));
  } catch (err) {
    throw redisFailure(err);
  }
}

/** The first word of a Redis error (NOPERM, ERR…), or the whole message of another error. */
function errorCode(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /^[A-Z]+\b/.exec(message)?.[0] ?? message;
}
