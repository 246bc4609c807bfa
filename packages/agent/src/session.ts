import {
  type Assignments,
  DispatcherServiceClient,
  type SessionRequest,
  type SessionResponse,
  type TaskStatus,
  TaskStatusUpdate,
} from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { type ClientDuplexStream, credentials } from '@grpc/grpc-js';
import type { NodeCredentials } from './join.js';

export interface SessionOptions {
  /** Called with the full assignment set on each new session, then with each change. */
  onAssignments?: (assignments: Assignments) => void;
  /** Reconnect backoff: from the first delay, doubling to the cap. */
  backoffMs?: { first: number; max: number };
}

type SessionState = 'connecting' | 'connected' | 'stopped';

/**
 * The agent's side of the session: mutual TLS with its node certificate, heartbeats at the period the manager
 * sets, and reconnection with backoff to any known manager when the stream breaks. Tasks keep running while it
 * reconnects; this class only carries the conversation.
 */
export class AgentSession {
  private stream: ClientDuplexStream<SessionRequest, SessionResponse> | undefined;
  private client: DispatcherServiceClient | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private delay: number;
  private next = 0;
  private managers: string[];
  state: SessionState = 'connecting';
  /** Sessions established so far (reconnects included). */
  sessions = 0;
  heartbeatsSent = 0;

  constructor(
    private readonly creds: NodeCredentials,
    private readonly options: SessionOptions = {},
  ) {
    this.managers = [...creds.managers];
    this.delay = options.backoffMs?.first ?? 100;
  }

  start(): void {
    this.state = 'connecting';
    this.connect();
  }

  stop(): void {
    this.state = 'stopped';
    this.teardown();
  }

  /** Sends task status updates; returns false when there is no session to carry them (the caller keeps them). */
  reportStatus(updates: { taskId: string; status: Partial<TaskStatus> }[]): boolean {
    if (this.state !== 'connected' || !this.stream) return false;
    this.stream.write({ status: { updates: updates.map((u) => TaskStatusUpdate.fromPartial(u)) } });
    return true;
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    const address = this.managers[this.next++ % this.managers.length] as string;
    const tls = credentials.createSsl(
      Buffer.from(this.creds.caCertPem),
      Buffer.from(this.creds.keyPem),
      Buffer.from(this.creds.certPem),
    );
    this.client = new DispatcherServiceClient(address, tls, { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME });
    const stream = this.client.session();
    this.stream = stream;
    stream.on('data', (message: SessionResponse) => this.receive(message));
    const broken = () => {
      if (this.stream !== stream) return;
      this.teardown();
      if (this.state === 'stopped') return;
      this.state = 'connecting';
      this.retry = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.options.backoffMs?.max ?? 5_000, this.delay * 2);
    };
    stream.on('error', broken);
    stream.on('end', broken);
  }

  private receive(message: SessionResponse): void {
    if (message.session) {
      this.state = 'connected';
      this.sessions++;
      this.delay = this.options.backoffMs?.first ?? 100;
      if (message.session.managers.length > 0) this.managers = [...message.session.managers];
      clearInterval(this.heartbeat);
      const period = Number(message.session.heartbeatPeriodMs) || 1_000;
      this.heartbeat = setInterval(() => {
        this.stream?.write({ heartbeat: { sentAtMs: BigInt(Date.now()) } });
        this.heartbeatsSent++;
      }, period);
    }
    if (message.assignments) this.options.onAssignments?.(message.assignments);
  }

  private teardown(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.heartbeat = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.client?.close();
    this.client = undefined;
  }
}
