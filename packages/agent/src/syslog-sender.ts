import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import type { SyslogTarget } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';

export interface SyslogSenderStats {
  sent: number;
  /** Over the buffer while the server was out of reach, or refused by the socket. */
  dropped: number;
}

/** Messages held while a stream server is out of reach; older ones go first past it. */
const MAX_PENDING = 10_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * Sends syslog messages to one server: a datagram each over UDP, or newline-framed over a TCP or unix stream
 * socket (RFC 6587 non-transparent framing, as Docker's driver writes), reconnecting with backoff. `send` only
 * queues: a slow or absent server costs messages (counted), never a stalled task.
 */
export class SyslogSender {
  private udp: UdpSocket | undefined;
  private stream: Socket | undefined;
  private connected = false;
  private readonly pending: string[] = [];
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private warned = false;
  private readonly counts: SyslogSenderStats = { sent: 0, dropped: 0 };

  constructor(
    readonly target: Pick<SyslogTarget, 'protocol' | 'host' | 'port' | 'path'>,
    private readonly logger?: Logger,
  ) {
    if (target.protocol === 'udp') {
      this.udp = createSocket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
      this.udp.on('error', (err) => this.problem(err));
      this.udp.unref();
    } else this.open();
  }

  /** Where it sends, for logs: never more than the address the stack file gave. */
  get address(): string {
    const t = this.target;
    return t.protocol === 'unix'
      ? `unix://${t.path}`
      : `${t.protocol}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  }

  send(message: string): void {
    if (this.closed) return;
    if (this.udp) {
      this.udp.send(`${message}\n`, this.target.port, this.target.host, (err) => {
        if (err) {
          this.counts.dropped++;
          this.problem(err);
        } else this.counts.sent++;
      });
      return;
    }
    if (this.connected && this.stream) {
      this.write(message);
      return;
    }
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.counts.dropped++;
    }
    this.pending.push(message);
  }

  stats(): SyslogSenderStats {
    return { ...this.counts };
  }

  /** Sends what is queued if connected (briefly), then closes. */
  async close(timeoutMs = 1_000): Promise<SyslogSenderStats> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.counts.dropped += this.pending.splice(0).length;
    const udp = this.udp;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    const stream = this.stream;
    if (stream && !stream.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          stream.destroy();
          resolve();
        }, timeoutMs);
        stream.end(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.stats();
  }

  private write(message: string): void {
    this.stream?.write(`${message}\n`, (err) => {
      if (err) this.counts.dropped++;
      else this.counts.sent++;
    });
  }

  private open(): void {
    const t = this.target;
    const socket = t.protocol === 'unix' ? tcpConnect({ path: t.path }) : tcpConnect({ host: t.host, port: t.port });
    this.stream = socket;
    socket.setNoDelay(true);
    socket.unref();
    socket.on('connect', () => {
      this.connected = true;
      this.retryMs = RETRY_MIN_MS;
      this.warned = false;
      for (const m of this.pending.splice(0)) this.write(m);
    });
    // The server has nothing to say to a sender: whatever it writes is read and thrown away.
    socket.on('data', () => undefined);
    socket.on('error', (err) => this.problem(err));
    socket.on('close', () => {
      this.connected = false;
      if (this.closed) return;
      this.retryTimer = setTimeout(() => this.open(), this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
  }

  /** Logged once until the server is reached again, so an absent server does not flood the agent's log. */
  private problem(err: Error): void {
    if (this.warned) return;
    this.warned = true;
    this.logger?.warn({ syslog: this.address, err: err.message }, 'task output not shipped to this syslog server');
  }
}
