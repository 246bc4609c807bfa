import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv4, isIPv6, type Server, SocketAddress, type Socket as TcpSocket } from 'node:net';
import dnsPacket, { type DecodedPacket, type OptAnswer, type Question } from 'dns-packet';

/** Where the server learns which names belong to the cluster: the agent's view of services and tasks. */
export interface DnsLookup {
  /**
   * What the cluster knows of `name` (lower-case, no trailing dot) for the container whose address is `client`:
   * undefined → not a cluster name (forward it upstream); [] → a cluster name with nothing to return (answer NODATA/empty NOERROR for A);
   * otherwise IPv4 addresses for A records.
   */
  lookup(client: string, name: string): string[] | undefined;
}

/** The few logging calls the server makes; a pino logger fits. */
export interface DnsLogger {
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

/** How a node's embedded DNS server answers and where it sends names the cluster does not own. */
export interface DnsServerOptions {
  lookup: DnsLookup;
  /** Upstream resolvers "ip" or "ip:port" (default port 53; "[v6]:port" for IPv6 with a port) for names that are not cluster names. */
  upstreams: string[];
  /** Port to answer on, for UDP and TCP, on every listened address. Default 53. */
  port?: number;
  /** TTL of cluster answers; short because endpoints change. Default 5. */
  ttlSeconds?: number;
  /** How long to wait for each upstream before trying the next one, then SERVFAIL. Default 2000. */
  upstreamTimeoutMs?: number;
  /** Forwards in flight beyond which a new forward is answered SERVFAIL at once, bounding memory. Default 1024. */
  maxPendingForwards?: number;
  /** TCP connections open at once per address; beyond it new ones are refused. Default 256. */
  maxTcpConnections?: number;
  /** A TCP connection with no traffic for this long is closed. Default 10000. */
  tcpIdleTimeoutMs?: number;
  logger?: DnsLogger;
}

/** Counters since the server was made, for metrics and tests. */
export interface DnsServerStats {
  /** Messages received from clients, over UDP or TCP, good or bad. */
  queries: number;
  /** Queries answered from cluster data (authoritative answers). */
  answered: number;
  /** Queries sent on to an upstream resolver. */
  forwarded: number;
  /** Messages that could not be decoded or were not a single-question query; dropped or answered FORMERR. */
  malformed: number;
  /** Queries answered SERVFAIL: every upstream failed, no upstream, too many forwards, or a lookup error. */
  servfail: number;
}

const RCODE = { noError: 0, formErr: 1, servFail: 2, notImp: 4 } as const;
const OPCODE_QUERY = 0;
const QR_FLAG = 0x8000;
const HEADER_BYTES = 12;
/** Plain DNS over UDP: a reply larger than this needs EDNS or TCP. */
const CLASSIC_UDP_LIMIT = 512;
/** The largest UDP reply we send even if the client offers more (the usual anti-fragmentation EDNS size). */
const EDNS_UDP_LIMIT = 1232;
const TCP_MESSAGE_LIMIT = 65535;
const MAX_PENDING_FORWARDS = 0x8000;
/** A TCP client that stops reading replies is cut off once this much output waits for it. */
const TCP_MAX_QUEUED_BYTES = 1024 * 1024;

/** One UDP socket and one TCP server answering on an address. */
interface Listener {
  udp: UdpSocket;
  tcp: Server;
  connections: Set<TcpSocket>;
}

/** How to reply to the client that sent a query, whichever transport it used. */
interface ClientChannel {
  transport: 'udp' | 'tcp';
  /** The client's address, as given to the lookup. */
  address: string;
  send(message: Buffer): void;
}

/** A decoded single-question query, with what a reply needs from it. */
interface ParsedQuery {
  raw: Buffer;
  id: number;
  flags: number;
  question: Question;
  /** The question name lower-cased, without trailing dot. */
  name: string;
  edns: boolean;
  /** The largest reply this client takes over UDP. */
  udpLimit: number;
}

interface Upstream {
  address: string;
  port: number;
  family: 'udp4' | 'udp6';
}

/** A query waiting for an upstream reply. */
interface PendingForward {
  query: ParsedQuery;
  client: ClientChannel;
  /** The query as sent upstream (with the upstream id). */
  wire: Buffer;
  /** Index of the upstream being tried. */
  attempt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The embedded DNS server each node's agent runs on its bridge gateways for service discovery: it answers
 * cluster names from the agent's lookup and forwards everything else to the node's upstream resolvers.
 */
export class DnsServer {
  private readonly lookup: DnsLookup;
  private readonly upstreams: Upstream[];
  private readonly port: number;
  private readonly ttlSeconds: number;
  private readonly upstreamTimeoutMs: number;
  private readonly maxPendingForwards: number;
  private readonly maxTcpConnections: number;
  private readonly tcpIdleTimeoutMs: number;
  private readonly logger: DnsLogger | undefined;
  private readonly listeners = new Map<string, Promise<Listener>>();
  private readonly pending = new Map<number, PendingForward>();
  private readonly forwardSockets = new Map<'udp4' | 'udp6', UdpSocket>();
  private readonly counters: DnsServerStats = { queries: 0, answered: 0, forwarded: 0, malformed: 0, servfail: 0 };

  constructor(options: DnsServerOptions) {
    this.lookup = options.lookup;
    this.logger = options.logger;
    this.port = options.port ?? 53;
    this.ttlSeconds = options.ttlSeconds ?? 5;
    this.upstreamTimeoutMs = options.upstreamTimeoutMs ?? 2000;
    // Capped well below the 65536 possible ids, so a free random id is always found quickly.
    this.maxPendingForwards = Math.min(options.maxPendingForwards ?? 1024, MAX_PENDING_FORWARDS);
    this.maxTcpConnections = options.maxTcpConnections ?? 256;
    this.tcpIdleTimeoutMs = options.tcpIdleTimeoutMs ?? 10_000;
    this.upstreams = this.parseUpstreams(options.upstreams);
  }

  /** A snapshot of the counters. */
  get stats(): DnsServerStats {
    return { ...this.counters };
  }

  /** Starts answering on address:port over UDP and TCP (a gateway address of a node bridge). Idempotent per address. */
  listen(address: string): Promise<void> {
    let listener = this.listeners.get(address);
    if (!listener) {
      listener = this.openListener(address);
      this.listeners.set(address, listener);
      // The caller gets the failure from the promise returned below; here the map only forgets the listener.
      listener.catch(() => {
        if (this.listeners.get(address) === listener) this.listeners.delete(address);
      });
    }
    return listener.then(() => undefined);
  }

  /** Stops answering on that address; queries already forwarded from it are dropped when they come back. */
  async unlisten(address: string): Promise<void> {
    const listener = this.listeners.get(address);
    if (!listener) return;
    this.listeners.delete(address);
    // A listener that never opened has nothing to close (its failure went to whoever called listen).
    const opened = await listener.catch(() => undefined);
    if (opened) await closeListener(opened);
  }

  /** Stops answering everywhere and abandons forwards in flight. */
  async close(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((address) => this.unlisten(address)));
    for (const forward of this.pending.values()) clearTimeout(forward.timer);
    this.pending.clear();
    for (const socket of this.forwardSockets.values()) socket.close();
    this.forwardSockets.clear();
  }

  private parseUpstreams(specs: string[]): Upstream[] {
    const upstreams: Upstream[] = [];
    for (const spec of specs) {
      const upstream = parseUpstream(spec);
      if (upstream) upstreams.push(upstream);
      else this.logger?.warn({ upstream: spec }, 'DNS: ignoring an upstream that is not "ip" or "ip:port"');
    }
    return upstreams;
  }

  // --- listening -------------------------------------------------------------------------------------------

  private async openListener(address: string): Promise<Listener> {
    const udp = await this.bindUdp(address);
    try {
      const connections = new Set<TcpSocket>();
      const tcp = await this.listenTcp(address, connections);
      return { udp, tcp, connections };
    } catch (error) {
      udp.close();
      throw error;
    }
  }

  private bindUdp(address: string): Promise<UdpSocket> {
    const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port: this.port }, () => {
        socket.off('error', reject);
        socket.on('error', (error) => this.logger?.warn({ err: error, address }, 'DNS: UDP socket error'));
        socket.on('message', (message, remote) => this.onUdpMessage(socket, message, remote));
        resolve(socket);
      });
    });
  }

  private listenTcp(address: string, connections: Set<TcpSocket>): Promise<Server> {
    const server = createServer((connection) => this.onTcpConnection(connection, connections));
    server.maxConnections = this.maxTcpConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port: this.port }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.logger?.warn({ err: error, address }, 'DNS: TCP server error'));
        resolve(server);
      });
    });
  }

  private onUdpMessage(socket: UdpSocket, message: Buffer, remote: RemoteInfo): void {
    const client: ClientChannel = {
      transport: 'udp',
      address: plainAddress(remote.address),
      send: (reply) => this.sendUdp(socket, reply, remote),
    };
    this.handleMessage(message, client);
  }

  private sendUdp(socket: UdpSocket, reply: Buffer, remote: RemoteInfo): void {
    try {
      socket.send(reply, remote.port, remote.address, (error) => {
        if (error) this.logger?.debug?.({ err: error, client: remote.address }, 'DNS: UDP reply not sent');
      });
    } catch (error) {
      // The socket was closed (unlisten) while the answer was being made.
      this.logger?.debug?.({ err: error, client: remote.address }, 'DNS: UDP reply not sent');
    }
  }

  private onTcpConnection(connection: TcpSocket, connections: Set<TcpSocket>): void {
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    connection.on('error', (error) => this.logger?.debug?.({ err: error }, 'DNS: TCP connection error'));
    connection.setTimeout(this.tcpIdleTimeoutMs, () => connection.destroy());
    const client: ClientChannel = {
      transport: 'tcp',
      address: plainAddress(connection.remoteAddress ?? ''),
      send: (reply) => sendTcp(connection, reply),
    };
    let buffered: Buffer = Buffer.alloc(0);
    connection.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      buffered = this.consumeTcpFrames(buffered, client, connection);
    });
  }

  /** Handles every complete length-prefixed message in `buffered`; returns what is left of an incomplete one. */
  private consumeTcpFrames(buffered: Buffer, client: ClientChannel, connection: TcpSocket): Buffer {
    let rest = buffered;
    while (rest.length >= 2 && !connection.destroyed) {
      const length = rest.readUInt16BE(0);
      if (length === 0) {
        this.counters.queries++;
        this.counters.malformed++;
        connection.destroy();
        return Buffer.alloc(0);
      }
      if (rest.length < 2 + length) break;
      const message = Buffer.from(rest.subarray(2, 2 + length));
      rest = rest.subarray(2 + length);
      this.handleMessage(message, client);
    }
    return rest;
  }

  // --- answering -------------------------------------------------------------------------------------------

  /** The entry point for one message from a client; never throws. */
  private handleMessage(message: Buffer, client: ClientChannel): void {
    this.counters.queries++;
    try {
      this.answer(message, client);
    } catch (error) {
      this.logger?.warn({ err: error, client: client.address }, 'DNS: query failed');
    }
  }

  private answer(message: Buffer, client: ClientChannel): void {
    if (message.length < HEADER_BYTES) {
      this.counters.malformed++;
      return;
    }
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    if (flags & QR_FLAG) {
      // Never answer a response: that is how two servers end up bouncing packets forever.
      this.counters.malformed++;
      return;
    }
    if (opcodeOf(flags) !== OPCODE_QUERY) {
      client.send(headerOnlyReply(id, flags, RCODE.notImp));
      return;
    }
    const query = parseQuery(message);
    if (!query) {
      this.counters.malformed++;
      client.send(headerOnlyReply(id, flags, RCODE.formErr));
      return;
    }
    this.resolve(query, client);
  }

  private resolve(query: ParsedQuery, client: ClientChannel): void {
    let addresses: string[] | undefined;
    if (query.question.class === 'IN') {
      try {
        addresses = this.lookup.lookup(client.address, query.name);
      } catch (error) {
        this.logger?.warn({ err: error, name: query.name }, 'DNS: cluster lookup failed');
        this.replyServfail(query, client);
        return;
      }
    }
    if (addresses === undefined) this.forward(query, client);
    else this.answerFromCluster(query, addresses, client);
  }

  private answerFromCluster(query: ParsedQuery, found: string[], client: ClientChannel): void {
    const addresses = query.question.type === 'A' ? shuffled(found.filter((a) => isIPv4(a))) : [];
    const limit = client.transport === 'udp' ? query.udpLimit : TCP_MESSAGE_LIMIT;
    client.send(fittedReply(query, addresses, this.ttlSeconds, limit));
    this.counters.answered++;
  }

  private replyServfail(query: ParsedQuery, client: ClientChannel): void {
    this.counters.servfail++;
    client.send(
      encodeReply(query, { rcode: RCODE.servFail, addresses: [], ttl: 0, authoritative: false, truncated: false }),
    );
  }

  // --- forwarding ------------------------------------------------------------------------------------------

  private forward(query: ParsedQuery, client: ClientChannel): void {
    if (this.upstreams.length === 0 || this.pending.size >= this.maxPendingForwards) {
      this.replyServfail(query, client);
      return;
    }
    const upstreamId = this.freeUpstreamId();
    const wire = Buffer.from(query.raw);
    wire.writeUInt16BE(upstreamId, 0);
    const forward: PendingForward = { query, client, wire, attempt: 0, timer: undefined };
    this.pending.set(upstreamId, forward);
    this.counters.forwarded++;
    this.tryUpstream(upstreamId, forward);
  }

  /** A random id no forward in flight uses, so replies cannot be guessed or confused. */
  private freeUpstreamId(): number {
    for (;;) {
      const id = randomInt(0x10000);
      if (!this.pending.has(id)) return id;
    }
  }

  private tryUpstream(upstreamId: number, forward: PendingForward): void {
    const upstream = this.upstreams[forward.attempt];
    if (!upstream) {
      this.pending.delete(upstreamId);
      this.logger?.debug?.({ name: forward.query.name }, 'DNS: no upstream answered');
      this.replyServfail(forward.query, forward.client);
      return;
    }
    const attempt = forward.attempt;
    const giveUp = () => {
      if (this.pending.get(upstreamId) !== forward || forward.attempt !== attempt) return;
      clearTimeout(forward.timer);
      forward.attempt++;
      this.tryUpstream(upstreamId, forward);
    };
    forward.timer = setTimeout(giveUp, this.upstreamTimeoutMs);
    try {
      this.forwardSocket(upstream.family).send(forward.wire, upstream.port, upstream.address, (error) => {
        if (!error) return;
        this.logger?.debug?.({ err: error, upstream: upstream.address }, 'DNS: upstream send failed');
        giveUp();
      });
    } catch (error) {
      this.logger?.debug?.({ err: error, upstream: upstream.address }, 'DNS: upstream send failed');
      setImmediate(giveUp);
    }
  }

  private forwardSocket(family: 'udp4' | 'udp6'): UdpSocket {
    let socket = this.forwardSockets.get(family);
    if (!socket) {
      const created = createSocket({ type: family });
      created.on('error', (error) => this.logger?.warn({ err: error }, 'DNS: upstream socket error'));
      created.on('message', (message, remote) => this.onUpstreamReply(message, remote));
      this.forwardSockets.set(family, created);
      socket = created;
    }
    return socket;
  }

  private onUpstreamReply(message: Buffer, remote: RemoteInfo): void {
    try {
      this.relayUpstreamReply(message, remote);
    } catch (error) {
      this.logger?.warn({ err: error }, 'DNS: upstream reply failed');
    }
  }

  private relayUpstreamReply(message: Buffer, remote: RemoteInfo): void {
    if (message.length < HEADER_BYTES || !(message.readUInt16BE(2) & QR_FLAG)) return;
    const upstreamId = message.readUInt16BE(0);
    const forward = this.pending.get(upstreamId);
    const upstream = forward && this.upstreams[forward.attempt];
    if (!forward || !upstream || !sameEndpoint(upstream, remote)) {
      this.logger?.debug?.({ from: remote.address, port: remote.port }, 'DNS: ignoring an unexpected upstream reply');
      return;
    }
    clearTimeout(forward.timer);
    this.pending.delete(upstreamId);
    const reply = Buffer.from(message);
    reply.writeUInt16BE(forward.query.id, 0);
    forward.client.send(reply);
  }
}

// --- wire helpers --------------------------------------------------------------------------------------------

function opcodeOf(flags: number): number {
  return (flags >> 11) & 0xf;
}

/** Decodes a query with exactly one question; undefined when it is malformed. */
function parseQuery(raw: Buffer): ParsedQuery | undefined {
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(raw);
  } catch {
    // Not a DNS message: the caller answers FORMERR, as it does for any malformed query.
    return undefined;
  }
  const question = packet.questions?.[0];
  if (packet.questions?.length !== 1 || !question) return undefined;
  const opt = packet.additionals?.find((record): record is OptAnswer => record.type === 'OPT');
  return {
    raw,
    id: raw.readUInt16BE(0),
    flags: raw.readUInt16BE(2),
    question,
    name: normalizeName(question.name),
    edns: opt !== undefined,
    udpLimit: opt ? Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_LIMIT), EDNS_UDP_LIMIT) : CLASSIC_UDP_LIMIT,
  };
}

/** Names are case-insensitive and may come fully qualified: `Web.Front.` is `web.front`. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

interface ReplyShape {
  rcode: number;
  /** IPv4 addresses to answer with as A records for the question name. */
  addresses: string[];
  ttl: number;
  authoritative: boolean;
  truncated: boolean;
}

/** Bytes of one A record whose name points back at the question name. */
const A_RECORD_BYTES = 16;
/** Where the question name starts: right after the header, the target of answer name pointers. */
const QUESTION_NAME_POINTER = 0xc000 | HEADER_BYTES;
const TYPE_A = 1;
const TYPE_OPT = 41;
const CLASS_IN = 1;

function replyFlags(queryFlags: number, shape: ReplyShape): number {
  let flags = (queryFlags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | shape.rcode;
  if (shape.authoritative) flags |= dnsPacket.AUTHORITATIVE_ANSWER;
  if (shape.truncated) flags |= dnsPacket.TRUNCATED_RESPONSE;
  return flags;
}

/**
 * A reply echoing the id, RD and question, with an EDNS OPT record when the query had one. The A records are
 * written here rather than by dns-packet so their names are compressed (16 bytes each instead of repeating
 * the name), which keeps far more addresses within the 512-byte UDP budget.
 */
function encodeReply(query: ParsedQuery, shape: ReplyShape): Buffer {
  let head: Buffer;
  try {
    head = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: replyFlags(query.flags, shape),
      questions: [query.question],
    });
  } catch {
    // A question dns-packet decodes but cannot encode again: answer without echoing it.
    return headerOnlyReply(query.id, query.flags, shape.rcode === RCODE.noError ? RCODE.servFail : shape.rcode);
  }
  head.writeUInt16BE(shape.addresses.length, 6);
  head.writeUInt16BE(query.edns ? 1 : 0, 10);
  const records = shape.addresses.map((address) => aRecord(address, shape.ttl));
  return Buffer.concat([head, ...records, ...(query.edns ? [optRecord()] : [])]);
}

function aRecord(address: string, ttl: number): Buffer {
  const record = Buffer.alloc(A_RECORD_BYTES);
  record.writeUInt16BE(QUESTION_NAME_POINTER, 0);
  record.writeUInt16BE(TYPE_A, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(ttl, 6);
  record.writeUInt16BE(4, 10);
  address.split('.').forEach((octet, i) => {
    record.writeUInt8(Number(octet), 12 + i);
  });
  return record;
}

/** The EDNS OPT pseudo-record (root name, our UDP size, version 0, no options) a reply to an EDNS query carries. */
function optRecord(): Buffer {
  const record = Buffer.alloc(11);
  record.writeUInt16BE(TYPE_OPT, 1);
  record.writeUInt16BE(EDNS_UDP_LIMIT, 3);
  return record;
}

/**
 * An authoritative NOERROR reply that fits in `limit` bytes: over UDP an oversized reply is sent truncated
 * (TC, no answers) so the client asks again over TCP; over TCP the answers are cut down to fit.
 */
function fittedReply(query: ParsedQuery, addresses: string[], ttl: number, limit: number): Buffer {
  const shape: ReplyShape = { rcode: RCODE.noError, addresses, ttl, authoritative: true, truncated: false };
  const reply = encodeReply(query, shape);
  if (reply.length <= limit) return reply;
  if (limit < TCP_MESSAGE_LIMIT) return encodeReply(query, { ...shape, addresses: [], truncated: true });
  const room = Math.floor((limit - (reply.length - addresses.length * A_RECORD_BYTES)) / A_RECORD_BYTES);
  return encodeReply(query, { ...shape, addresses: addresses.slice(0, Math.max(room, 0)) });
}

/** A bare reply (no question) for a query whose body cannot be trusted or is not supported. */
function headerOnlyReply(id: number, queryFlags: number, rcode: number): Buffer {
  const reply = Buffer.alloc(HEADER_BYTES);
  const opcode = queryFlags & 0x7800;
  const flags = QR_FLAG | opcode | (queryFlags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode;
  reply.writeUInt16BE(id, 0);
  reply.writeUInt16BE(flags, 2);
  return reply;
}

function sendTcp(connection: TcpSocket, reply: Buffer): void {
  if (connection.destroyed || !connection.writable) return;
  if (reply.length > TCP_MESSAGE_LIMIT || connection.writableLength > TCP_MAX_QUEUED_BYTES) {
    connection.destroy();
    return;
  }
  const frame = Buffer.alloc(2 + reply.length);
  frame.writeUInt16BE(reply.length, 0);
  reply.copy(frame, 2);
  connection.write(frame);
}

/** A fresh copy in random order, so each answer spreads clients over the endpoints (round robin by DNS). */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353" → an upstream; undefined when it is none of these. */
function parseUpstream(spec: string): Upstream | undefined {
  const trimmed = spec.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  if (bracketed) return upstreamOf(bracketed[1] ?? '', bracketed[2]);
  if (isIPv6(trimmed)) return upstreamOf(trimmed, undefined);
  const colon = trimmed.lastIndexOf(':');
  if (colon < 0) return upstreamOf(trimmed, undefined);
  return upstreamOf(trimmed.slice(0, colon), trimmed.slice(colon + 1));
}

function upstreamOf(address: string, portText: string | undefined): Upstream | undefined {
  const port = portText === undefined ? 53 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || (portText !== undefined && !/^\d+$/.test(portText))) {
    return undefined;
  }
  if (isIPv4(address)) return { address, port, family: 'udp4' };
  if (isIPv6(address)) return { address: canonicalIPv6(address), port, family: 'udp6' };
  return undefined;
}

/** IPv6 in the form the socket layer reports, so reply sources compare equal. */
function canonicalIPv6(address: string): string {
  return new SocketAddress({ address, family: 'ipv6' }).address;
}

function sameEndpoint(upstream: Upstream, remote: RemoteInfo): boolean {
  return upstream.port === remote.port && upstream.address === plainAddress(remote.address);
}

/** "::ffff:10.0.0.2" (an IPv4 client seen by a dual-stack socket) → "10.0.0.2". */
function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

async function closeListener(listener: Listener): Promise<void> {
  for (const connection of listener.connections) connection.destroy();
  await Promise.all([
    new Promise<void>((resolve) => listener.tcp.close(() => resolve())),
    new Promise<void>((resolve) => {
      try {
        listener.udp.close(() => resolve());
      } catch {
        // Already closed (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing to wait for.
        resolve();
      }
    }),
  ]);
}
