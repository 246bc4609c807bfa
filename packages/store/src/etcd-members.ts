import { createRequire } from 'node:module';
import { Code, FlotillaError } from '@flotilla/api';
import type * as Grpc from '@grpc/grpc-js';

// The grpc-js that etcd3 itself loads: a resolver registered in any other copy would never be asked.
const grpc = createRequire(createRequire(import.meta.url).resolve('etcd3'))('@grpc/grpc-js') as typeof Grpc;

const SCHEME = 'flotilla-etcd';
const lists = new Map<string, EtcdMembers>();
let registered = false;
let made = 0;

/**
 * The client URLs of one etcd cluster's members, as one gRPC target: a channel to it connects to the first member
 * that answers, in this order (the manager's own member first), and moves on to the next when that connection
 * fails (a member killed, hung, or its host gone), as etcd's Go client does. etcd3 on its own picks a member at
 * random per call and does not fail over. The list can change while channels use it (members join and leave).
 */
export class EtcdMembers {
  readonly target: string;
  private urls: string[] = [];
  private readonly followers = new Set<() => void>();

  constructor(urls: readonly string[]) {
    register();
    this.target = `${SCHEME}:members-${++made}`;
    this.set(urls);
    lists.set(this.target.slice(SCHEME.length + 1), this);
  }

  /** The client URLs, in the order they are tried. */
  get current(): string[] {
    return [...this.urls];
  }

  /** A new list (duplicates dropped, order kept); channels follow it, keeping a connection that is in it. */
  set(urls: readonly string[]): void {
    const next = [...new Set(urls)];
    if (next.length === 0) throw new FlotillaError(Code.InvalidArgument, 'an etcd member list needs a client URL');
    for (const url of next) hostPort(url);
    if (next.join() === this.urls.join()) return;
    this.urls = next;
    for (const follow of this.followers) follow();
  }

  /** The addresses as gRPC endpoints (one per member). */
  endpoints(): Grpc.experimental.Endpoint[] {
    return this.urls.map((url) => ({ addresses: [hostPort(url)] }));
  }

  /** Forgets the list: channels made on it after this fail to resolve. */
  close(): void {
    lists.delete(this.target.slice(SCHEME.length + 1));
    this.followers.clear();
  }

  follow(onChange: () => void): () => void {
    this.followers.add(onChange);
    return () => this.followers.delete(onChange);
  }
}

/** HOST and PORT of a client URL such as https://198.18.0.2:2379 (IPv6 without its brackets). */
function hostPort(url: string): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FlotillaError(Code.InvalidArgument, `etcd client URL ${url}: not a URL; give one as https://HOST:PORT`);
  }
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * Hands a channel the member list its target names once, and again whenever it changes. Not on every request
 * for resolution: a channel whose members all fail asks again at once, and answering each time (as the IP
 * resolver does not either) would spin.
 */
class MemberResolver implements Grpc.experimental.Resolver {
  private readonly members: EtcdMembers | undefined;
  private unfollow: (() => void) | undefined;
  private reported = false;
  private destroyed = false;

  constructor(
    target: Grpc.experimental.GrpcUri,
    private readonly listener: Grpc.experimental.ResolverListener,
  ) {
    this.members = lists.get(target.path);
  }

  static getDefaultAuthority(target: Grpc.experimental.GrpcUri): string {
    return target.path;
  }

  updateResolution(): void {
    this.destroyed = false;
    this.unfollow ??= this.members?.follow(() => {
      // Never synchronously with a change: the listener may call back into the channel.
      setImmediate(() => this.report());
    });
    if (this.reported) return;
    this.reported = true;
    // Never synchronously with the call, as grpc-js asks of a resolver.
    setImmediate(() => this.report());
  }

  destroy(): void {
    this.destroyed = true;
    this.unfollow?.();
    this.unfollow = undefined;
    this.reported = false;
  }

  private report(): void {
    if (this.destroyed) return;
    const { statusOrFromValue, statusOrFromError } = grpc.experimental;
    this.listener(
      this.members
        ? statusOrFromValue(this.members.endpoints())
        : statusOrFromError({ code: grpc.status.UNAVAILABLE, details: 'the etcd member list was closed' }),
      {},
      null,
      '',
    );
  }
}

function register(): void {
  if (registered) return;
  registered = true;
  grpc.experimental.registerResolver(SCHEME, MemberResolver);
}
