import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type RecordType } from 'dns-packet';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type DnsLookup, DnsServer, type DnsServerOptions } from './dns-server.js';

const LOCAL = '127.0.0.1';

/** dns-packet decodes the rcode as a name ('NOERROR', 'SERVFAIL', ...) though its types leave it out. */
type Reply = DecodedPacket & { rcode: string };
const decodeReply = (message: Buffer): Reply => dnsPacket.decode(message) as Reply;

/** A port free for both UDP and TCP on 127.0.0.1 (the server API takes a fixed port). */
async function freePort(): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, LOCAL, () => resolve(udp.address().port)));
    const tcp = createServer();
    const tcpFree = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, LOCAL, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcpFree) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port');
}

function query(name: string, type: RecordType = 'A', options: { id?: number; edns?: number } = {}): Buffer {
  const packet: Packet = {
    type: 'query',
    id: options.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  };
  if (options.edns !== undefined) {
    packet.additionals = [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: options.edns,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ];
  }
  return dnsPacket.encode(packet);
}

/** Sends one datagram and waits for one reply; undefined when none comes in time. */
async function udpExchange(
  port: number,
  message: Buffer,
  options: { to?: string; from?: string; timeoutMs?: number } = {},
): Promise<Buffer | undefined> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, options.from ?? LOCAL, () => resolve()));
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), options.timeoutMs ?? 2000);
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.send(message, port, options.to ?? LOCAL);
    });
  } finally {
    socket.close();
  }
}

async function udpQuery(port: number, message: Buffer, options: { to?: string; from?: string } = {}) {
  const reply = await udpExchange(port, message, options);
  expect(reply).toBeDefined();
  return decodeReply(reply as Buffer);
}

function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** Writes `payload` on a new TCP connection and decodes `count` length-prefixed replies. */
async function tcpExchange(port: number, payload: Buffer, count = 1, from?: string): Promise<Reply[]> {
  const socket = connect({ port, host: LOCAL, ...(from ? { localAddress: from } : {}) });
  try {
    return await new Promise<Reply[]>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const replies: Reply[] = [];
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const length = buffered.readUInt16BE(0);
          replies.push(decodeReply(buffered.subarray(2, 2 + length)));
          buffered = buffered.subarray(2 + length);
        }
        if (replies.length >= count) resolve(replies);
      });
      socket.write(payload);
    });
  } finally {
    socket.destroy();
  }
}

interface FakeUpstream {
  port: number;
  received: DecodedPacket[];
  socket: UdpSocket;
}

type Responder = (q: DecodedPacket, from: RemoteInfo) => Packet | undefined;

/** A UDP resolver on 127.0.0.1; `respond` builds the answer (undefined: stay silent). */
async function fakeUpstream(respond: Responder = () => undefined): Promise<FakeUpstream> {
  const socket = createSocket('udp4');
  const received: DecodedPacket[] = [];
  socket.on('message', (message, remote) => {
    const q = dnsPacket.decode(message);
    received.push(q);
    const reply = respond(q, remote);
    if (reply) socket.send(dnsPacket.encode(reply), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, LOCAL, () => resolve()));
  return { port: socket.address().port, received, socket };
}

function answerWith(address: string) {
  return (q: DecodedPacket): Packet => ({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_AVAILABLE,
    questions: q.questions,
    answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', ttl: 60, data: address }],
  });
}

const addressesOf = (packet: DecodedPacket) =>
  (packet.answers ?? []).map((a: Answer) => (a.type === 'A' ? a.data : undefined));

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DnsServer', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const table: Record<string, string[]> = {
    web: ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8', '10.0.0.9'],
    'db.backend': ['10.0.1.2'],
    idle: [],
  };
  const calls: { client: string; name: string }[] = [];
  const tableLookup: DnsLookup = {
    lookup(client, name) {
      calls.push({ client, name });
      return table[name];
    },
  };

  async function start(options: Partial<DnsServerOptions> = {}, address = LOCAL) {
    const port = await freePort();
    const server = new DnsServer({ lookup: tableLookup, upstreams: [], port, upstreamTimeoutMs: 150, ...options });
    cleanups.push(() => server.close());
    await server.listen(address);
    return { server, port };
  }

  async function upstream(respond?: Responder) {
    const fake = await fakeUpstream(respond);
    cleanups.push(() => fake.socket.close());
    return fake;
  }

  it('answers a cluster name with all its addresses as A records, shuffled on each answer', async () => {
    const { port, server } = await start();
    const orders = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const reply = await udpQuery(port, query('web', 'A', { id: 1000 + i }));
      expect(reply.id).toBe(1000 + i);
      expect(reply.rcode).toBe('NOERROR');
      expect(reply.flag_qr && reply.flag_aa && reply.flag_ra && reply.flag_rd).toBe(true);
      expect(reply.questions).toEqual([{ name: 'web', type: 'A', class: 'IN' }]);
      expect(reply.answers?.every((a) => a.type === 'A' && a.ttl === 5 && a.name === 'web')).toBe(true);
      const addresses = addressesOf(reply);
      expect([...addresses].sort()).toEqual(table.web);
      orders.add(addresses.join(','));
    }
    expect(orders.size).toBeGreaterThan(1);
    expect(server.stats).toMatchObject({ queries: 20, answered: 20, forwarded: 0, malformed: 0, servfail: 0 });
  });

  it('matches names case-insensitively and without the trailing dot, echoing the question as asked', async () => {
    const { port } = await start({ ttlSeconds: 30 });
    calls.length = 0;
    const reply = await udpQuery(port, query('DB.Backend.', 'A'));
    expect(calls.at(-1)?.name).toBe('db.backend');
    expect(reply.questions?.[0]?.name).toBe('DB.Backend');
    expect(reply.answers).toEqual([
      expect.objectContaining({ type: 'A', name: 'DB.Backend', data: '10.0.1.2', ttl: 30 }),
    ]);
  });

  it('answers AAAA and other types for a cluster name with an empty NOERROR, not NXDOMAIN', async () => {
    const { port } = await start();
    for (const type of ['AAAA', 'MX', 'TXT'] as const) {
      const reply = await udpQuery(port, query('web', type));
      expect(reply.rcode).toBe('NOERROR');
      expect(reply.flag_aa).toBe(true);
      expect(reply.answers).toEqual([]);
      expect(reply.questions?.[0]?.type).toBe(type);
    }
  });

  it('answers a cluster name with no endpoints with an empty NOERROR for every type', async () => {
    const { port } = await start();
    for (const type of ['A', 'AAAA'] as const) {
      const reply = await udpQuery(port, query('idle', type));
      expect(reply.rcode).toBe('NOERROR');
      expect(reply.answers).toEqual([]);
    }
  });

  it('forwards an unknown name upstream with its own id and relays the answer with the client id', async () => {
    const fake = await upstream(answerWith('93.184.216.34'));
    const { port, server } = await start({ upstreams: [`${LOCAL}:${fake.port}`] });
    const reply = await udpQuery(port, query('example.com', 'A', { id: 777 }));
    expect(reply.id).toBe(777);
    expect(reply.rcode).toBe('NOERROR');
    expect(addressesOf(reply)).toEqual(['93.184.216.34']);
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]?.questions?.[0]?.name).toBe('example.com');
    expect(server.stats).toMatchObject({ forwarded: 1, answered: 0, servfail: 0 });
  });

  it('tries the next upstream when the first stays silent', async () => {
    const silent = await upstream();
    const good = await upstream(answerWith('1.1.1.1'));
    const { port } = await start({ upstreams: [`${LOCAL}:${silent.port}`, `${LOCAL}:${good.port}`] });
    const reply = await udpQuery(port, query('example.org'));
    expect(addressesOf(reply)).toEqual(['1.1.1.1']);
    expect(silent.received).toHaveLength(1);
    expect(good.received).toHaveLength(1);
  });

  it('answers SERVFAIL when every upstream stays silent, or when there is none', async () => {
    const a = await upstream();
    const b = await upstream();
    const { port, server } = await start({ upstreams: [`${LOCAL}:${a.port}`, `${LOCAL}:${b.port}`] });
    const reply = await udpQuery(port, query('example.net', 'A', { id: 99 }));
    expect(reply.id).toBe(99);
    expect(reply.rcode).toBe('SERVFAIL');
    expect(reply.questions?.[0]?.name).toBe('example.net');
    expect(server.stats.servfail).toBe(1);

    const none = await start();
    expect((await udpQuery(none.port, query('example.net'))).rcode).toBe('SERVFAIL');
  });

  it('ignores upstream replies from another port or with another id', async () => {
    const spoofer = createSocket('udp4');
    await new Promise<void>((resolve) => spoofer.bind(0, LOCAL, () => resolve()));
    cleanups.push(() => spoofer.close());
    const fromElsewhere = await upstream((q, from) => {
      spoofer.send(dnsPacket.encode(answerWith('6.6.6.6')(q)), from.port, from.address);
      return undefined;
    });
    const wrongId = await upstream((q) => ({ ...answerWith('6.6.6.6')(q), id: ((q.id ?? 0) + 1) & 0xffff }));
    const { port } = await start({ upstreams: [`${LOCAL}:${fromElsewhere.port}`, `${LOCAL}:${wrongId.port}`] });
    const reply = await udpQuery(port, query('example.com'));
    expect(reply.rcode).toBe('SERVFAIL');
    expect(reply.answers).toEqual([]);
  });

  it('survives malformed packets and still answers a good query afterwards', async () => {
    const { port, server } = await start();
    const valid = query('web', 'A', { edns: 1232 });
    const random = fc.sample(fc.uint8Array({ maxLength: 600 }), { seed: 42, numRuns: 200 });
    const prefixes = Array.from({ length: valid.length }, (_, n) => Uint8Array.from(valid.subarray(0, n)));
    const flipped = fc.sample(
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, bits]) => {
        const copy = Uint8Array.from(valid);
        copy[at] = (copy[at] ?? 0) ^ bits;
        return copy;
      }),
      { seed: 7, numRuns: 300 },
    );
    const sender = createSocket('udp4');
    cleanups.push(() => sender.close());
    for (const packet of [...random, ...prefixes, ...flipped]) sender.send(packet, port, LOCAL);
    await wait(200);
    expect(server.stats.malformed).toBeGreaterThan(0);
    expect(addressesOf(await udpQuery(port, query('web')))).toHaveLength(8);
  });

  it('answers FORMERR with the id for a truncated body or two questions, and drops short packets and responses', async () => {
    const { port, server } = await start();
    expect(await udpExchange(port, Buffer.from([1, 2, 3, 4, 5]), { timeoutMs: 200 })).toBeUndefined();

    const headerOnly = Buffer.from(query('web', 'A', { id: 0x1234 }).subarray(0, 14));
    const formErr = await udpQuery(port, headerOnly);
    expect(formErr).toMatchObject({ id: 0x1234, rcode: 'FORMERR' });

    const twoQuestions = dnsPacket.encode({
      type: 'query',
      id: 0x4321,
      questions: [
        { type: 'A', name: 'web' },
        { type: 'A', name: 'db.backend' },
      ],
    });
    expect(await udpQuery(port, twoQuestions)).toMatchObject({ id: 0x4321, rcode: 'FORMERR', answers: [] });

    const response = dnsPacket.encode({ type: 'response', id: 5, questions: [{ type: 'A', name: 'web' }] });
    expect(await udpExchange(port, response, { timeoutMs: 200 })).toBeUndefined();

    expect(server.stats.malformed).toBe(4);
    expect(addressesOf(await udpQuery(port, query('web')))).toHaveLength(8);
  });

  it('answers other opcodes NOTIMP', async () => {
    const { port } = await start();
    const update = query('web', 'A', { id: 321 });
    update.writeUInt16BE(update.readUInt16BE(2) | (5 << 11), 2);
    const reply = await udpQuery(port, update);
    expect(reply).toMatchObject({ id: 321, rcode: 'NOTIMP' });
  });

  it('answers over TCP, including pipelined queries and after a garbage frame', async () => {
    const { port } = await start();
    const [single] = await tcpExchange(port, frame(query('web', 'A', { id: 11 })));
    expect(single?.id).toBe(11);
    expect(addressesOf(single as DecodedPacket)).toHaveLength(8);

    const pipelined = Buffer.concat([
      frame(query('web', 'A', { id: 21 })),
      frame(query('db.backend', 'A', { id: 22 })),
    ]);
    const replies = await tcpExchange(port, pipelined, 2);
    expect(replies.map((r) => r.id)).toEqual([21, 22]);

    const garbage = Buffer.concat([frame(Buffer.from([9, 9, 9])), frame(query('web', 'A', { id: 31 }))]);
    const [afterGarbage] = await tcpExchange(port, garbage);
    expect(afterGarbage?.id).toBe(31);
  });

  it('sends a truncated UDP reply when the answer exceeds 512 bytes without EDNS, and the full one over TCP', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `10.9.0.${i + 1}`);
    const name = 'a-rather-long-service-name.with-a-namespace';
    const { port } = await start({ lookup: { lookup: (_client, n) => (n === name ? many : undefined) } });

    const truncated = await udpQuery(port, query(name));
    expect(truncated.flag_tc).toBe(true);
    expect(truncated.answers).toEqual([]);
    expect(truncated.questions?.[0]?.name).toBe(name);

    const withEdns = await udpQuery(port, query(name, 'A', { edns: 4096 }));
    expect(withEdns.flag_tc).toBe(false);
    expect(withEdns.answers).toHaveLength(30);
    expect(withEdns.additionals?.[0]?.type).toBe('OPT');

    const [overTcp] = await tcpExchange(port, frame(query(name)));
    expect(overTcp?.flag_tc).toBe(false);
    expect(overTcp?.answers).toHaveLength(30);
  });

  it('cuts a TCP answer down to the 65535-byte message limit', async () => {
    const huge = Array.from({ length: 5000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    const { port } = await start({ lookup: { lookup: (_client, n) => (n === 'huge' ? huge : undefined) } });
    const [reply] = await tcpExchange(port, frame(query('huge')));
    expect(reply?.rcode).toBe('NOERROR');
    expect(reply?.answers?.length).toBeGreaterThan(4000);
    expect(reply?.answers?.length).toBeLessThan(5000);
  });

  it("gives the lookup the client's source address", async () => {
    const { port } = await start();
    calls.length = 0;
    await udpQuery(port, query('web'), { from: '127.0.0.2' });
    await tcpExchange(port, frame(query('web')), 1, '127.0.0.3');
    expect(calls.map((c) => c.client)).toEqual(['127.0.0.2', '127.0.0.3']);
  });

  it('answers SERVFAIL when the lookup throws, and keeps going', async () => {
    let fail = true;
    const warnings: string[] = [];
    const { port } = await start({
      lookup: {
        lookup: (client, name) => {
          if (fail) throw new Error('store unavailable');
          return tableLookup.lookup(client, name);
        },
      },
      logger: { warn: (_obj, msg) => warnings.push(msg) },
    });
    expect((await udpQuery(port, query('web'))).rcode).toBe('SERVFAIL');
    expect(warnings).toEqual(['DNS: cluster lookup failed']);
    fail = false;
    expect((await udpQuery(port, query('web'))).rcode).toBe('NOERROR');
  });

  it('listens idempotently per address, and stops answering on an address after unlisten', async () => {
    const { port, server } = await start();
    await server.listen(LOCAL);
    await server.listen('127.0.0.4');
    expect((await udpQuery(port, query('web'), { to: '127.0.0.4' })).rcode).toBe('NOERROR');

    await server.unlisten(LOCAL);
    expect(await udpExchange(port, query('web'), { timeoutMs: 200 })).toBeUndefined();
    await expect(tcpExchange(port, frame(query('web')))).rejects.toThrow(/ECONNREFUSED/);
    expect((await udpQuery(port, query('web'), { to: '127.0.0.4' })).rcode).toBe('NOERROR');

    await server.listen(LOCAL);
    expect((await udpQuery(port, query('web'))).rcode).toBe('NOERROR');
  });

  it('answers SERVFAIL at once beyond maxPendingForwards', async () => {
    const silent = await upstream();
    const { port, server } = await start({
      upstreams: [`${LOCAL}:${silent.port}`],
      upstreamTimeoutMs: 3000,
      maxPendingForwards: 1,
    });
    const first = udpExchange(port, query('one.example', 'A', { id: 1 }), { timeoutMs: 100 });
    await wait(50);
    const started = Date.now();
    const second = await udpQuery(port, query('two.example', 'A', { id: 2 }));
    expect(second).toMatchObject({ id: 2, rcode: 'SERVFAIL' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await first).toBeUndefined();
    expect(server.stats).toMatchObject({ forwarded: 1, servfail: 1 });
  });

  it('keeps working when clients vanish before their forwarded answer arrives', async () => {
    const slow = await upstream();
    slow.socket.on('message', (message, remote) => {
      const q = dnsPacket.decode(message);
      setTimeout(() => slow.socket.send(dnsPacket.encode(answerWith('8.8.8.8')(q)), remote.port, remote.address), 100);
    });
    const { port } = await start({ upstreams: [`${LOCAL}:${slow.port}`], upstreamTimeoutMs: 1000 });
    expect(await udpExchange(port, query('gone.example'), { timeoutMs: 10 })).toBeUndefined();
    const socket = connect({ port, host: LOCAL });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.end(frame(query('gone.example')));
    await wait(300);
    expect(addressesOf(await udpQuery(port, query('still.example')))).toEqual(['8.8.8.8']);
  });
});
