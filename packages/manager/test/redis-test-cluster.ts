import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { NodeCredentials } from '@flotilla/agent';
import { connectRedis, disconnectRedis, nodePassword, nodeUserName } from '@flotilla/events';
import { freePort, startRedis, type TestServer } from '@flotilla/testing';
import { REDIS_SERVER_NAME, type RedisTlsFiles, writeRedisTlsFiles } from '../src/cluster/redis-certificates.js';
import type { ManagerOptions } from '../src/manager.js';
import { startTestCluster, type TestCluster } from './test-cluster.js';

type Redis = ReturnType<typeof connectRedis>;

/** A test cluster whose managers reach Redis as a cluster runs it (see startRedisTestCluster). */
export interface RedisTestCluster extends TestCluster {
  redis: TestServer;
  redisTls: RedisTlsFiles;
  /** The managers' Redis password (random per cluster): each node's own password is derived from it. */
  redisPassword: string;
  /**
   * A connection as the managers' (default) user with the first manager's certificate: what the managers read
   * logs and events with. Closed by stop() if the test has not closed it.
   */
  managersRedis(): Redis;
  /**
   * A connection as a node's own user with that node's certificate: what its agent ships logs with. No ready
   * check (the INFO it sends is refused to a node). Closed by stop() if the test has not closed it.
   */
  nodeRedis(node: Pick<NodeCredentials, 'nodeId' | 'certPem' | 'keyPem' | 'caCertPem'>): Redis;
}

/**
 * A test cluster (startTestCluster) with Redis as production runs it: TLS only, a server certificate of the
 * cluster CA, only clients with a certificate of that CA, the managers' password, and one Redis user per node,
 * which the leader makes. The managers are told where Redis will be before it exists: its certificate needs the
 * CA that the first manager makes, so Redis starts on a port chosen beforehand, once the manager is up (the
 * managers reconnect meanwhile). stop() stops the cluster, then Redis.
 */
export async function startRedisTestCluster(
  label: string,
  options: Partial<Omit<ManagerOptions, 'etcd' | 'stateDir' | 'cliConfigDir' | 'redis'>> = {},
): Promise<RedisTestCluster> {
  const password = randomBytes(18).toString('base64url');
  const port = await freePort();
  const cluster = await startTestCluster(label, {
    ...options,
    redis: { address: `127.0.0.1:${port}`, password, tls: true },
  });
  let redis: TestServer | undefined;
  try {
    const redisTls = await writeRedisTlsFiles(cluster.dir('manager'), cluster.dir('redis-tls'), ['127.0.0.1']);
    redis = await startRedis({ password, tls: redisTls, port });
    const server = redis;
    const clients: Redis[] = [];
    const connect = (url: string, tls: Parameters<typeof connectRedis>[0]['tls'], readyCheck = true) => {
      const client = connectRedis({ url, tls, readyCheck });
      clients.push(client);
      return client;
    };
    const managerState = cluster.dir('manager');
    return {
      ...cluster,
      redis: server,
      redisTls,
      redisPassword: password,
      managersRedis: () =>
        connect(server.url, {
          caFile: redisTls.caFile,
          serverName: REDIS_SERVER_NAME,
          certFile: path.join(managerState, 'node.crt'),
          keyFile: path.join(managerState, 'node.key'),
        }),
      nodeRedis: (node) =>
        connect(
          `rediss://${nodeUserName(node.nodeId)}:${encodeURIComponent(nodePassword(password, node.nodeId))}@127.0.0.1:${port}`,
          {
            serverName: REDIS_SERVER_NAME,
            identity: () => ({ certPem: node.certPem, keyPem: node.keyPem, caPem: node.caCertPem }),
          },
          false,
        ),
      async stop() {
        await Promise.all(clients.map((c) => disconnectRedis(c)));
        await cluster.stop();
        await server.destroy();
      },
    };
  } catch (err) {
    await cluster.stop();
    await redis?.destroy();
    throw err;
  }
}
