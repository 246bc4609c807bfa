import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { freePort, ManagedProcess, registryServer } from '@flotilla/devhosts';
import { buildImage, busyboxImageFiles, type OciImage, RegistryClient, RegistryCredentials } from '@flotilla/registry';
import { makeTestPki, type TestPki } from './pki.js';
import { requireBinary } from './servers.js';
import { tempDir } from './temp-dir.js';

export interface RegistryLogin {
  username: string;
  password: string;
}

/** A real OCI registry (Debian's `docker-registry`, distribution 2.8) on a loopback port, for tests. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`: the registry part of image references. */
  readonly address: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** A Docker-style config.json holding the login, when the registry was started with one. */
  readonly credentialsFile?: string;
  /** The CA that signed the registry's certificate, when it serves HTTPS. */
  readonly caFile?: string;
  /** The registry's filesystem storage (for tests that damage content on purpose). */
  readonly storageDir: string;
  /** Stops the registry and removes its storage and files. */
  stop(): Promise<void>;
}

// Applets the tests use, linked to busybox like its own installer does.
// biome-ignore format: a table of names reads better than one per line
const APPLETS = [
  'cat', 'cp', 'date', 'echo', 'env', 'false', 'grep', 'head', 'hostname', 'httpd', 'id', 'ip', 'kill', 'ls',
  'mkdir', 'mv', 'nc', 'nslookup', 'ping', 'printf', 'ps', 'pwd', 'rm', 'sh', 'sleep', 'tail', 'test', 'touch',
  'true', 'uname', 'wc', 'wget',
];

export interface RegistryOptions {
  /** Require this login. */
  auth?: RegistryLogin;
  /**
   * How the login is checked: `basic` (htpasswd, bcrypt; distribution takes it over plain HTTP too) or `token`
   * (Bearer tokens from a token service this harness runs in-process, the way Docker Hub and most hosted
   * registries work). Default `basic`.
   */
  authMode?: 'basic' | 'token';
  /** Serve HTTPS with a certificate from a throwaway CA (`caFile`). */
  tls?: boolean;
  /**
   * The address to listen on (default 127.0.0.1): a test underlay's gateway (198.18.x.1) for registries that
   * namespace hosts pull from. The port is checked free on loopback, which is close enough on a test machine.
   */
  host?: string;
}

/** Starts a registry with its own config and storage in a temp dir, on a free loopback port. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const binary = requireBinary('registry');
  const dir = tempDir('registry');
  let tokenService: { realm: string; close(): Promise<void> } | undefined;
  try {
    const port = await freePort();
    const address = `${options.host ?? '127.0.0.1'}:${port}`;
    const storage = path.join(dir.path, 'storage');
    let caFile: string | undefined;
    let tls: { certificate: string; key: string } | undefined;
    const needsPki = options.tls || (options.auth && options.authMode === 'token');
    const pki = needsPki ? makeTestPki(dir.path) : undefined;
    if (options.tls && pki) {
      caFile = pki.caFile;
      tls = { certificate: pki.serverCertFile, key: pki.serverKeyFile };
    }
    let credentialsFile: string | undefined;
    let auth: Record<string, unknown> | undefined;
    if (options.auth) {
      if (options.authMode === 'token' && pki) {
        tokenService = await startTokenService(options.auth, pki);
        auth = {
          token: {
            realm: tokenService.realm,
            service: TOKEN_SERVICE,
            issuer: TOKEN_ISSUER,
            rootcertbundle: pki.caFile,
          },
        };
      } else {
        const htpasswd = path.join(dir.path, 'htpasswd');
        // -i reads the password from stdin, so it never shows in a process listing.
        const line = execFileSync('htpasswd', ['-Bin', options.auth.username], { input: options.auth.password });
        writeFileSync(htpasswd, line, { mode: 0o600 });
        auth = { htpasswd: { realm: 'flotilla-test', path: htpasswd } };
      }
      credentialsFile = path.join(dir.path, 'docker-config.json');
      const login = Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64');
      writeFileSync(credentialsFile, JSON.stringify({ auths: { [address]: { auth: login } } }), { mode: 0o600 });
    }
    const spec = registryServer({
      address,
      configFile: path.join(dir.path, 'config.yml'),
      storage,
      binary,
      ...(auth ? { auth } : {}),
      ...(tls ? { tls } : {}),
    });
    const proc = await ManagedProcess.start({ ...spec, name: 'docker-registry' });
    return {
      address,
      port,
      process: proc,
      credentialsFile,
      caFile,
      storageDir: storage,
      async stop() {
        await proc.stop();
        await tokenService?.close();
        dir.remove();
      },
    };
  } catch (err) {
    await tokenService?.close();
    dir.remove();
    throw err;
  }
}

const TOKEN_SERVICE = 'flotilla-test-registry';
const TOKEN_ISSUER = 'flotilla-test-token-service';

/**
 * A token service for distribution's `token` auth: checks the Basic login and answers with an ES256 JWT that
 * grants the scopes asked for. The JWT carries its signing certificate (x5c), which the registry checks against
 * the CA it was given as rootcertbundle.
 */
async function startTokenService(
  login: RegistryLogin,
  pki: TestPki,
): Promise<{ realm: string; close(): Promise<void> }> {
  const key = createPrivateKey(readFileSync(pki.serverKeyFile));
  const certificate = readFileSync(pki.serverCertFile, 'utf8').replace(/-----[^-]+-----|\s/g, '');
  const expected = `Basic ${Buffer.from(`${login.username}:${login.password}`).toString('base64')}`;
  const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    if (url.pathname !== '/token' || req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad login"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, ...rest] = scope.split(':');
      const actions = rest.pop() ?? '';
      return { type, name: rest.join(':'), actions: actions.split(',') };
    });
    const claims = {
      iss: TOKEN_ISSUER,
      sub: login.username,
      aud: url.searchParams.get('service'),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const unsigned = `${base64url({ typ: 'JWT', alg: 'ES256', x5c: [certificate] })}.${base64url(claims)}`;
    const signature = sign('sha256', Buffer.from(unsigned), { key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${unsigned}.${signature.toString('base64url')}`, expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    realm: `http://127.0.0.1:${port}/token`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface TestImageRefs {
  /** `ADDRESS/flotilla-test/busybox:1` */
  tag: string;
  /** `ADDRESS/flotilla-test/busybox@sha256:…` */
  byDigest: string;
  /** The manifest digest. */
  digest: string;
}

/** A busybox image for this machine's platform: /bin/busybox from Debian's busybox-static and its applet links. */
export async function buildBusyboxImage(): Promise<OciImage> {
  return buildImage({ files: busyboxImageFiles(APPLETS), config: { cmd: ['sh'] } });
}

/** Builds and pushes the test images (`flotilla-test/busybox:1`) to a registry; returns their references. */
export async function pushTestImages(
  address: string,
  auth?: RegistryLogin,
  options: { ca?: string | Buffer; insecure?: boolean } = {},
): Promise<{ busybox: TestImageRefs }> {
  const client = new RegistryClient({
    credentials: auth ? new RegistryCredentials({ [address]: auth }) : undefined,
    ca: options.ca,
    // A registry on a test underlay (not loopback) serves plain HTTP too.
    ...(options.insecure ? { insecureRegistries: [address] } : {}),
  });
  try {
    const repository = `${address}/flotilla-test/busybox`;
    const digest = await client.pushImage(`${repository}:1`, await buildBusyboxImage());
    return { busybox: { tag: `${repository}:1`, byDigest: `${repository}@${digest}`, digest } };
  } finally {
    client.close();
  }
}
