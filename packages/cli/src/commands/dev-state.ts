import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { Code, FlotillaError } from '@flotilla/api';
import type { HostPlan } from '@flotilla/devhosts';
import { usageError } from '../exit-codes.js';

/** One node of a dev cluster on namespace hosts: its host, containerd and agent. */
export interface DevNode {
  host: HostPlan;
  containerd: { pid: number; socket: string; namespace: string; dir: string; config: string };
  agent: { pid: number; stateDir: string; args: string[] };
  /** Killed by `dev kill-node` (until `dev restore-node`). */
  killed?: boolean;
}

/** What `dev up` started, kept so `dev down` ends exactly those processes. */
export interface DevState {
  /** hosts: each node a network namespace with its own containerd; loopback: process executors, no isolation. */
  mode?: 'hosts' | 'loopback';
  pids: { name: string; pid: number }[];
  etcd: string;
  /** HOST:PORT of the Redis that holds container logs (empty when redis-server is not installed). */
  redis?: string;
  manager: string;
  nodes: number;
  /** HOST:PORT of the registry the examples' images are pushed to (hosts mode). */
  registry?: string;
  /** The examples' image as pushed there. */
  image?: string;
  hosts?: DevNode[];
}

/** Where the dev cluster keeps its state, data and logs. */
export function devDir(): string {
  return process.env.FLOTILLA_DEV_DIR ?? path.join(homedir(), '.flotilla-dev');
}

const statePath = (dir: string) => path.join(dir, 'state.json');

/** The state of the dev cluster in `dir`, or undefined when none is up. */
export function readDevState(dir: string): DevState | undefined {
  if (!existsSync(statePath(dir))) return undefined;
  return JSON.parse(readFileSync(statePath(dir), 'utf8')) as DevState;
}

export function writeDevState(dir: string, state: DevState): void {
  writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`);
}

/** A node of the dev cluster on hosts, by name (dev-node-N) or number, with the state it is in. */
export function devNode(ref: string): { dir: string; state: DevState; node: DevNode } {
  const dir = devDir();
  const state = readDevState(dir);
  if (!state) throw new FlotillaError(Code.FailedPrecondition, 'no dev cluster is up: flotilla dev up starts one');
  if (state.mode !== 'hosts' || !state.hosts) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      'this dev cluster runs on loopback: kill-node and restore-node need namespace hosts (root)',
    );
  }
  const name = /^\d+$/.test(ref) ? `dev-node-${ref}` : ref;
  const node = state.hosts.find((n) => n.host.name === name);
  if (!node) {
    throw usageError(`no ${name}: the nodes are ${state.hosts.map((n) => n.host.name).join(', ')}`);
  }
  return { dir, state, node };
}
