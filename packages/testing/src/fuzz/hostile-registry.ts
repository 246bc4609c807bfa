import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the hostile registry answers one kind of request. */
export interface HostileAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Instead of the body: never end it (headers, then silence), or stream without end (a bomb). */
  stall?: 'silent' | 'endless';
}

/** What the registry serves for one fuzz input: the tag's manifest, manifests by digest, and blobs by digest. */
export interface HostileScenario {
  tag: HostileAnswer;
  byDigest: Map<string, HostileAnswer>;
  /** Any other request (a token realm, an unknown digest). */
  other: HostileAnswer;
}

export const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * A registry on loopback that serves whatever the current scenario says, however wrong: it is the fake of a
 * hostile server, set per input, for the real registry client to pull from.
 */
export class HostileRegistry {
  scenario: HostileScenario | undefined;
  private readonly open = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly host: string,
  ) {}

  static async start(): Promise<HostileRegistry> {
    let registry: HostileRegistry | undefined;
    const server = createServer((req, res) => registry?.answer(req.url ?? '/', res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    registry = new HostileRegistry(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return registry;
  }

  /** Ends every stalled or endless answer of the last input, so none outlives it. */
  reset(): void {
    for (const res of this.open) res.destroy();
    this.open.clear();
  }

  close(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(url: string, res: ServerResponse): void {
    const scenario = this.scenario;
    if (!scenario) {
      res.writeHead(503).end();
      return;
    }
    const digest = /\/(?:manifests|blobs)\/(sha256:[a-f0-9]{64})$/.exec(url)?.[1];
    const answer =
      /\/manifests\/[^/]*$/.test(url) && !digest
        ? scenario.tag
        : (digest && scenario.byDigest.get(digest)) || scenario.other;
    res.on('error', () => undefined);
    res.writeHead(answer.status, answer.headers);
    if (answer.stall === 'silent') {
      this.open.add(res);
      res.flushHeaders();
      return;
    }
    if (answer.stall === 'endless') {
      this.open.add(res);
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          // Writes until the socket pushes back; 'drain' resumes.
        }
      };
      res.on('drain', pump);
      pump();
      return;
    }
    res.end(answer.body);
  }
}
