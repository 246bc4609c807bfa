import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { DnsServer } from '@flotilla/overlay';
import dnsPacket, { type Packet } from 'dns-packet';
import fc from 'fast-check';
import { type FuzzBudget, type FuzzResult, FuzzTally, inputs, within } from './fuzz-tally.js';
import { mutatedBytes } from './protobuf-inputs.js';

const LOCAL = '127.0.0.1';
const UDP_WAIT_MS = 100;
const TCP_IDLE_MS = 200;
/** A TCP exchange must end (answer or close) within the server's idle timeout and this margin. */
const TCP_DEADLINE_MS = TCP_IDLE_MS + 2_000;

function query(name: string, type: string, extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as 'A', name, class: 'IN' }],
    ...extra,
  });
}

const SEEDS = [
  query('web', 'A'),
  query('web.stack_net', 'AAAA'),
  query('empty', 'MX'),
  query('example.org', 'A'),
  query('web', 'A', {
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 4096,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  }),
].map((b) => new Uint8Array(b));

/** Structural attacks: compression-pointer loops, label and count lies, many questions. */
const hostilePackets = fc.oneof(
  // A name that points at itself, and two that point at each other.
  fc.constant(Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])),
  fc.constant(Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 0xc0, 17, 0, 1, 0, 1, 0xc0, 12])),
  fc
    .tuple(fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff))
    .map(([qd, an, ns, ar]) =>
      Uint8Array.from([
        0,
        2,
        1,
        0,
        qd >> 8,
        qd & 255,
        an >> 8,
        an & 255,
        ns >> 8,
        ns & 255,
        ar >> 8,
        ar & 255,
        3,
        119,
        101,
        98,
        0,
        0,
        1,
        0,
        1,
      ]),
    ),
  fc
    .integer({ min: 64, max: 255 })
    .map((len) => Uint8Array.from([0, 3, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, len, ...Array(len).fill(97), 0, 0, 1, 0, 1])),
  fc
    .array(fc.constantFrom('web', 'a.b.c', 'x'.repeat(63), '', '.'), { minLength: 2, maxLength: 20 })
    .map((names) =>
      Uint8Array.from(
        dnsPacket.encode({ type: 'query', id: 7, questions: names.map((name) => ({ type: 'A', name, class: 'IN' })) }),
      ),
    ),
);

/** A well-formed query with random fields (names, types, classes, opcodes, flags). */
const randomQuery = fc
  .record({
    id: fc.nat(0xffff),
    flags: fc.nat(0xffff),
    name: fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('web', 'WEB.', 'empty', 'tasks.web')),
    type: fc.constantFrom('A', 'AAAA', 'MX', 'TXT', 'SRV', 'PTR', 'ANY', 'CNAME', 'OPT', 'NS'),
    cls: fc.constantFrom('IN', 'CH', 'ANY'),
    response: fc.boolean(),
  })
  .map(({ id, flags, name, type, cls, response }) => {
    try {
      return Uint8Array.from(
        dnsPacket.encode({
          type: response ? 'response' : 'query',
          id,
          flags,
          questions: [{ type: type as 'A', name, class: cls as 'IN' }],
        }),
      );
    } catch {
      return Uint8Array.from(SEEDS[0] as Uint8Array);
    }
  });

const packets = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 600 }), weight: 2 },
  { arbitrary: mutatedBytes(SEEDS), weight: 4 },
  { arbitrary: randomQuery, weight: 2 },
  { arbitrary: hostilePackets, weight: 1 },
);

/** How a TCP stream carries the packets: true length prefixes, lying ones, or the bytes cut anywhere. */
const framing = fc.oneof(
  fc.constant('true-length' as const),
  fc.constant('lying-length' as const),
  fc.constant('no-length' as const),
  fc.constant('pipelined' as const),
);

/** A port free for both UDP and TCP on loopback (the server takes one port for both). */
async function freePort(): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, LOCAL, () => resolve(udp.address().port)));
    const tcp = createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, LOCAL, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (free) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no port free for both UDP and TCP on 127.0.0.1');
}

/** A fake upstream resolver: answers every query it can decode with an empty NOERROR, stays silent on others. */
async function startUpstream(): Promise<{ port: number; close(): void }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOCAL, () => resolve()));
  socket.on('message', (message, from) => {
    try {
      const q = dnsPacket.decode(message);
      socket.send(dnsPacket.encode({ type: 'response', id: q.id, questions: q.questions }), from.port, from.address);
    } catch {
      // Not a query: an upstream that stays silent, which the server must time out.
    }
  });
  return { port: socket.address().port, close: () => socket.close() };
}

function udpExchange(socket: UdpSocket, port: number, bytes: Uint8Array, waitMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const onMessage = (reply: Buffer) => {
      clearTimeout(timer);
      resolve(reply);
    };
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(undefined);
    }, waitMs);
    socket.once('message', onMessage);
    socket.send(bytes, port, LOCAL);
  });
}

/** Sends the bytes over one TCP connection; resolves 'answered' or 'closed', or 'open' if neither came in time. */
function tcpExchange(port: number, bytes: Uint8Array, frame: string): Promise<'answered' | 'closed' | 'open'> {
  const prefix = (b: Uint8Array, n = b.length) => Buffer.concat([Buffer.from([(n >> 8) & 255, n & 255]), b]);
  const payload =
    frame === 'true-length'
      ? prefix(bytes)
      : frame === 'lying-length'
        ? prefix(bytes, (bytes.length * 7 + 3) & 0xffff)
        : frame === 'pipelined'
          ? Buffer.concat([prefix(bytes), prefix(SEEDS[0] as Uint8Array), prefix(bytes)])
          : Buffer.from(bytes);
  return new Promise((resolve) => {
    const socket = connect(port, LOCAL);
    const done = (how: 'answered' | 'closed' | 'open') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => done('open'), TCP_DEADLINE_MS);
    socket.on('data', () => done('answered'));
    socket.on('close', () => done('closed'));
    socket.on('error', () => done('closed'));
    socket.write(payload);
  });
}

/** A valid cluster query over UDP gets its A record. */
async function answersValid(socket: UdpSocket, port: number): Promise<boolean> {
  const reply = await udpExchange(socket, port, SEEDS[0] as Uint8Array, 2_000);
  if (!reply) return false;
  try {
    const decoded = dnsPacket.decode(reply);
    return decoded.answers?.some((a) => a.type === 'A' && a.data === '10.0.9.2') ?? false;
  } catch {
    return false;
  }
}

/**
 * Random and mutated DNS messages to an embedded DNS server on loopback, over UDP and over TCP with honest,
 * lying and missing length prefixes. The server may answer or drop each; it must not throw, a TCP exchange must
 * end within its idle timeout, and a valid query is answered after every input.
 */
export async function fuzzDnsServer(budget: FuzzBudget): Promise<FuzzResult> {
  const tally = new FuzzTally('dns-server', budget);
  const upstream = await startUpstream();
  const port = await freePort();
  const server = new DnsServer({
    lookup: { lookup: (_client, name) => (name === 'web' ? ['10.0.9.2'] : name === 'empty' ? [] : undefined) },
    upstreams: [`${LOCAL}:${upstream.port}`],
    port,
    upstreamTimeoutMs: 200,
    tcpIdleTimeoutMs: TCP_IDLE_MS,
  });
  let escaped: unknown;
  const onUncaught = (err: unknown) => {
    escaped = err;
  };
  process.on('uncaughtException', onUncaught);
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOCAL, () => resolve()));
  try {
    await server.listen(LOCAL);
    for (const { bytes, tcp, frame } of inputs(
      fc.record({ bytes: packets, tcp: fc.boolean(), frame: framing }),
      tally,
    )) {
      tally.input();
      const input = { tcp, frame, bytes };
      if (tcp) {
        const how = await within(tcpExchange(port, bytes, frame), TCP_DEADLINE_MS + 1_000, 'open' as const);
        if (how === 'answered') tally.accept();
        if (how === 'open') tally.hang(`a TCP connection neither answered nor closed in ${TCP_DEADLINE_MS} ms`, input);
      } else {
        if (await udpExchange(socket, port, bytes, UDP_WAIT_MS)) tally.accept();
      }
      if (escaped !== undefined) {
        tally.crash(`an exception escaped: ${escaped instanceof Error ? escaped.stack : String(escaped)}`, input);
        escaped = undefined;
      }
      if (!(await answersValid(socket, port))) {
        tally.crash('the server no longer answers a valid query', input);
        break;
      }
    }
  } finally {
    process.off('uncaughtException', onUncaught);
    socket.close();
    await server.close();
    upstream.close();
  }
  return tally.done();
}
