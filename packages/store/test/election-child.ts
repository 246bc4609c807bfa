// A manager stand-in in its own process, for the failover test: campaigns, says when it leads, then waits to
// be stopped or killed. Prints `leader ID KEY CREATE_REVISION`.
// Usage: node --import tsx test/election-child.ts ETCD_URL ID TTL_SECONDS [PREFIX]
import { connectEtcd } from '../src/connection.js';
import { Election } from '../src/election.js';

const [url, id, ttl, prefix] = process.argv.slice(2);
const client = connectEtcd({ endpoints: [url as string] });
const leadership = await new Election(client, {
  id: id as string,
  ttlSeconds: Number(ttl),
  ...(prefix ? { prefix } : {}),
}).campaign();
console.log(`leader ${id} ${leadership.fence.key} ${leadership.fence.createRevision}`);
setInterval(() => {}, 1_000);
