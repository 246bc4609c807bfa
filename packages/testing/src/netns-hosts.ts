import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import {
  createHostNetwork,
  deleteLink,
  deleteNamespace,
  type ExecOptions,
  errorMessage,
  type HostNetwork,
  ipJson,
  listNamespaces,
  type NamespaceHost,
  removeHostNetwork,
} from '@flotilla/devhosts';
import { runPrefix } from '@flotilla/test-servers';

/**
 * Test "hosts" made of Linux network namespaces on one machine, joined by an underlay bridge in the root
 * namespace, for multi-host tests and benches (overlay networks, VXLAN between hosts). The hosts themselves are
 * @flotilla/devhosts' (as `flotilla dev`'s are); what this adds is how parallel and crashed test runs share the
 * machine: claimed subnets, names that carry the creating PID, records, and a sweep of what dead runs left.
 *
 * Everything lives in 198.18.0.0/15 (the benchmarking range): each set of hosts claims one /24 in it, the
 * bridge gets .1 (the gateway: services in the root namespace listen there) and the hosts .11, .12, ...
 *
 * Names carry the creating PID so leftovers of a crashed run can be told from live ones:
 *   bridge `fu<pid:5 base36><n:2 base36>`, host-side veths `fv<pid><n><i:2 base36>` (≤ 15 chars),
 *   namespaces `<runPrefix>-<pid>-n<n>-h<i>`, where n is the index of the /24 in 198.18.0.0/15.
 * A record of what a set is made of sits in `/tmp/flt-netns-<a.b.c.0>.json` (its name also claims the /24
 * against parallel test processes) until `close()`; `sweepNetnsHosts()` removes what dead processes left.
 */

/** One host of a set: see `NamespaceHost` in @flotilla/devhosts. */
export type NetnsHost = NamespaceHost;

/** Options of `NetnsHost.exec`. */
export type NetnsExecOptions = ExecOptions;

export interface NetnsHosts {
  /** The root namespace's address on the underlay bridge, e.g. 198.18.0.1 (managers, registry, redis listen here). */
  readonly gateway: string;
  /** The underlay /24, e.g. 198.18.0.0/24. */
  readonly subnet: string;
  /** The underlay bridge in the root namespace. */
  readonly bridge: string;
  readonly mtu: number | undefined;
  readonly hosts: readonly NetnsHost[];
  /**
   * True when br_netfilter hands bridged IPv4 frames to iptables (`net.bridge.bridge-nf-call-iptables = 1`):
   * the root namespace's FORWARD rules then apply to traffic between hosts. Left as found; see it when
   * hosts cannot reach each other.
   */
  readonly bridgeNetfilter: boolean;
  /** Removes every namespace, veth and the bridge made, then the record; safe to call twice. */
  close(): Promise<void>;
}

export interface NetnsHostsOptions {
  /** How many hosts (1 to 244). */
  count: number;
  /** The underlay: a /24 inside 198.18.0.0/15. Default: the first free one (claimed against parallel runs). */
  subnet?: string;
  /** MTU of the bridge and both ends of every veth; the kernel default (1500) when unset. */
  mtu?: number;
}

/** What a set of hosts is made of, kept in /tmp so a later run can remove it if its process died. */
interface NetnsRecord {
  version: 1;
  pid: number;
  /** The owner's start time (field 22 of /proc/<pid>/stat), so a reused PID is not taken for the owner. */
  startTime: string | null;
  subnet: string;
  bridge: string;
  veths: string[];
  namespaces: string[];
}

const RANGE_BASE = ipToInt('198.18.0.0');
/** /24 blocks in 198.18.0.0/15. */
const RANGE_BLOCKS = 512;
const RANGE_TEXT = '198.18.0.0/15';
const FIRST_HOST_OFFSET = 10;
const MAX_HOSTS = 254 - FIRST_HOST_OFFSET;
const RECORD_DIR = '/tmp';
const RECORD_FILE = /^flt-netns-(\d+\.\d+\.\d+\.\d+)\.json$/;
const RECORD_TEMP_FILE = /^flt-netns-.+\.json\.(\d+)\.[0-9a-f]+\.(?:tmp|sweep)$/;
const NETNS_NAME = /^flt[0-9a-f]{6}-(\d+)-n(\d+)-h(\d+)$/;
const BRIDGE_NAME = /^fu([0-9a-z]{5})([0-9a-z]{2})$/;
const VETH_NAME = /^fv([0-9a-z]{5})([0-9a-z]{2})([0-9a-z]{2})$/;
const BRIDGE_NF_CALL_IPTABLES = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/**
 * Creates `count` hosts: per host a network namespace with lo up, eth0 (a veth whose other end is a port of the
 * underlay bridge) with the host's address, a default route via the gateway, and ip_forward on. Needs root.
 */
export async function createNetnsHosts(options: NetnsHostsOptions): Promise<NetnsHosts> {
  if (process.getuid?.() !== 0) throw new Error('createNetnsHosts needs root (network namespaces, veths, a bridge)');
  const { count, mtu } = options;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new Error(`createNetnsHosts: count must be an integer from 1 to ${MAX_HOSTS}, got ${count}`);
  }
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65_535)) {
    throw new Error(`createNetnsHosts: mtu must be an integer from 68 to 65535, got ${mtu}`);
  }
  const { record, recordPath } = await claimSubnet(options.subnet, count);
  const network = networkOf(record, mtu);
  let hosts: NetnsHost[];
  try {
    hosts = await createHostNetwork(network);
  } catch (err) {
    let cleanup = '';
    try {
      await teardown(record);
      removeRecord(recordPath, record);
    } catch (e) {
      // The record stays, so a later sweep can finish the job.
      cleanup = `; cleaning up failed too (left for sweepNetnsHosts): ${errorMessage(e)}`;
    }
    throw new Error(`createNetnsHosts: ${errorMessage(err)}${cleanup}`);
  }

  let closing: Promise<void> | undefined;
  return {
    gateway: network.gateway,
    subnet: record.subnet,
    bridge: record.bridge,
    mtu,
    hosts,
    bridgeNetfilter: readTrimmed(BRIDGE_NF_CALL_IPTABLES) === '1',
    close() {
      closing ??= teardown(record).then(
        () => removeRecord(recordPath, record),
        (err: unknown) => {
          // Keep the record so a retry or a later sweep can finish the job.
          closing = undefined;
          throw err;
        },
      );
      return closing;
    },
  };
}

/**
 * Removes namespaces, links and records left by crashed earlier runs of this harness: sets whose record's owner
 * process is gone (or whose PID now belongs to another process), then namespaces, bridges and veths named by this
 * harness whose PID is not alive. Never touches anything of a live process.
 */
export async function sweepNetnsHosts(): Promise<void> {
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${errorMessage(err)}`);
    }
  };
  for (const file of readdirSync(RECORD_DIR)) {
    const path = `${RECORD_DIR}/${file}`;
    const temp = RECORD_TEMP_FILE.exec(file);
    if (temp) {
      if (!pidAlive(Number(temp[1]))) rmSync(path, { force: true });
      continue;
    }
    if (!RECORD_FILE.test(file)) continue;
    const record = readRecord(path);
    if (!record || ownerAlive(record)) continue;
    await attempt(path, () => sweepRecord(path, record));
  }

  // Leftovers without a record (a record removed by hand, or a crash in teardown): by name and PID only.
  const deadPid = (pid: number) => pid !== process.pid && pid > 0 && pid <= pidMax() && !pidAlive(pid);
  for (const ns of await listNamespaces()) {
    const m = NETNS_NAME.exec(ns);
    if (m && deadPid(Number(m[1]))) await attempt(`netns ${ns}`, () => deleteNamespace(ns));
  }
  const links = await ipJson<LinkInfo>(['-d', 'addr', 'show']);
  const ours = (link: LinkInfo, pattern: RegExp, kind: string) => {
    const m = pattern.exec(link.ifname);
    return m !== null && link.linkinfo?.info_kind === kind && deadPid(Number.parseInt(m[1] as string, 36));
  };
  // veths first (deleting one end removes its peer at once), then the bridges they were ports of.
  for (const link of links.filter((l) => ours(l, VETH_NAME, 'veth'))) {
    await attempt(`link ${link.ifname}`, () => deleteLink(link.ifname));
  }
  for (const link of links.filter((l) => ours(l, BRIDGE_NAME, 'bridge'))) {
    // A bridge of ours only ever has addresses in the test range.
    const foreign = (link.addr_info ?? []).some((a) => a.family === 'inet' && !inRange(ipToInt(a.local)));
    if (!foreign) await attempt(`link ${link.ifname}`, () => deleteLink(link.ifname));
  }
  if (errors.length > 0) throw new Error(`sweepNetnsHosts: could not remove everything:\n${errors.join('\n')}`);
}

/** Claims a /24 (the given one, or the first free one) by creating its record file, which cannot exist twice. */
async function claimSubnet(
  wanted: string | undefined,
  count: number,
): Promise<{ record: NetnsRecord; recordPath: string }> {
  const inUse = await addressesInUse();
  const candidates = wanted === undefined ? [...Array(RANGE_BLOCKS).keys()] : [parseSubnet(wanted)];
  for (const n of candidates) {
    const block = RANGE_BASE + n * 256;
    const subnet = `${intToIp(block)}/24`;
    const busy = inUse.find((a) => overlaps(a, block));
    if (busy) {
      if (wanted === undefined) continue;
      throw new Error(`createNetnsHosts: ${subnet} is in use on this machine (${busy.text})`);
    }
    const record = planRecord(n, subnet, count);
    const recordPath = `${RECORD_DIR}/flt-netns-${intToIp(block)}.json`;
    // A complete file is written aside, then hard-linked into place: link() fails if the name exists, so
    // exactly one process gets the /24, and a reader never sees a half-written record.
    const temp = `${recordPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, `${JSON.stringify(record, null, 2)}\n`);
    try {
      for (let tries = 0; tries < 2; tries++) {
        try {
          linkSync(temp, recordPath);
          return { record, recordPath };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const holder = readRecord(recordPath);
        if (holder && ownerAlive(holder)) break;
        if (holder) {
          // Left by a dead process: remove what it made and take the /24 over.
          await sweepRecord(recordPath, holder);
        } else if (wanted !== undefined) {
          throw new Error(`createNetnsHosts: ${subnet} is claimed by ${recordPath}, which cannot be read`);
        } else {
          break;
        }
      }
    } finally {
      rmSync(temp, { force: true });
    }
    if (wanted !== undefined) {
      const holder = readRecord(recordPath);
      throw new Error(`createNetnsHosts: ${subnet} is in use by process ${holder?.pid ?? '?'} (${recordPath})`);
    }
  }
  throw new Error(`createNetnsHosts: no free /24 left in ${RANGE_TEXT}`);
}

function planRecord(n: number, subnet: string, count: number): NetnsRecord {
  const pid36 = process.pid.toString(36).padStart(5, '0');
  const n36 = n.toString(36).padStart(2, '0');
  const hosts = [...Array(count).keys()].map((i) => i + 1);
  return {
    version: 1,
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    subnet,
    bridge: `fu${pid36}${n36}`,
    veths: hosts.map((i) => `fv${pid36}${n36}${i.toString(36).padStart(2, '0')}`),
    namespaces: hosts.map((i) => `${runPrefix()}-${process.pid}-n${n}-h${i}`),
  };
}

/** The index of a /24 in 198.18.0.0/15, from "198.18.N.0/24" or "198.19.N.0/24". */
function parseSubnet(subnet: string): number {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet.trim());
  const base = m ? ipToInt(m[1] as string) : Number.NaN;
  if (!m || Number.isNaN(base) || m[2] !== '24' || base % 256 !== 0 || !inRange(base)) {
    throw new Error(`createNetnsHosts: subnet must be a /24 inside ${RANGE_TEXT} (e.g. 198.18.0.0/24), got ${subnet}`);
  }
  return (base - RANGE_BASE) / 256;
}

function blockOf(subnet: string): number {
  return RANGE_BASE + parseSubnet(subnet) * 256;
}

/** Removes what a dead owner's record lists, then the record. */
async function sweepRecord(path: string, record: NetnsRecord): Promise<void> {
  await teardown(record);
  removeRecord(path, record);
}

/**
 * Removes the record file at `path` if it still describes `record`'s set: once a set is swept, its /24 may be
 * claimed by another process under the same file name. The file is moved aside first (atomic), and linked back
 * if it turns out to be someone else's.
 */
function removeRecord(path: string, record: NetnsRecord): void {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.sweep`;
  try {
    renameSync(path, aside);
  } catch {
    return; // already gone
  }
  const found = readRecord(aside);
  if (found && found.bridge !== record.bridge) {
    try {
      linkSync(aside, path);
    } catch {
      // claimed again meanwhile: that claim stands
    }
  }
  rmSync(aside, { force: true });
}

/** What a record lists, as the network devhosts makes and removes. */
function networkOf(record: NetnsRecord, mtu?: number): HostNetwork {
  const block = blockOf(record.subnet);
  return {
    bridge: record.bridge,
    gateway: intToIp(block + 1),
    ...(mtu === undefined ? {} : { mtu }),
    hosts: record.namespaces.map((netns, i) => ({
      name: `h${i + 1}`,
      netns,
      address: intToIp(block + FIRST_HOST_OFFSET + i + 1),
      veth: record.veths[i] as string,
    })),
  };
}

/** Deletes the veths (each takes its peer with it), the namespaces, then the bridge; skips what is gone. */
function teardown(record: NetnsRecord): Promise<void> {
  return removeHostNetwork(networkOf(record));
}

interface LinkInfo {
  ifname: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

interface AddressInUse {
  network: number;
  size: number;
  text: string;
}

/** IPv4 addresses on the root namespace's links, as networks (only those that could clash with one /24). */
async function addressesInUse(): Promise<AddressInUse[]> {
  const links = await ipJson<LinkInfo>(['-4', 'addr', 'show']);
  return links.flatMap((link) =>
    (link.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => {
        // Wide networks (a /8 on some interface) do not block a /24 inside them; the address itself does.
        const prefix = a.prefixlen >= 16 ? a.prefixlen : 32;
        const size = 2 ** (32 - prefix);
        const address = ipToInt(a.local);
        return { network: address - (address % size), size, text: `${a.local}/${a.prefixlen} on ${link.ifname}` };
      }),
  );
}

function overlaps(a: AddressInUse, block: number): boolean {
  return a.network < block + 256 && block < a.network + a.size;
}

function inRange(address: number): boolean {
  return address >= RANGE_BASE && address < RANGE_BASE + RANGE_BLOCKS * 256;
}

function ipToInt(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return Number.NaN;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function readRecord(path: string): NetnsRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as NetnsRecord;
    const names = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
    if (record.version !== 1 || !Number.isInteger(record.pid) || typeof record.bridge !== 'string') return undefined;
    if (!names(record.veths) || !names(record.namespaces)) return undefined;
    // Only ever act on names this harness makes, whatever the file says.
    if (!BRIDGE_NAME.test(record.bridge) || !record.veths.every((v) => VETH_NAME.test(v))) return undefined;
    if (!record.namespaces.every((n) => NETNS_NAME.test(n))) return undefined;
    return record;
  } catch {
    // Gone, or not JSON: no record this harness can act on.
    return undefined;
  }
}

function ownerAlive(record: NetnsRecord): boolean {
  if (!pidAlive(record.pid)) return false;
  return record.startTime === null || startTimeOf(record.pid) === record.startTime;
}

function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

function startTimeOf(pid: number): string | null {
  const stat = readTrimmed(`/proc/${pid}/stat`);
  if (stat === undefined) return null;
  // Fields after "(comm)" start at field 3; the start time is field 22.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

let pidMaxCache: number | undefined;
function pidMax(): number {
  pidMaxCache ??= Number(readTrimmed('/proc/sys/kernel/pid_max') ?? 4_194_304);
  return pidMaxCache;
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    // No such file (a process gone, a kernel without the setting): undefined says so.
    return undefined;
  }
}
