#!/usr/bin/env node
import { main } from '../dist/index.js';

// A reader that stopped reading (`flotilla service ps web | head -1`, a follow piped into a pager that quit) has
// all it wanted: end quietly, as a command killed by SIGPIPE does, rather than crash on the next write.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}

const code = await main(process.argv);
process.exitCode = code;
// Output is flushed by now; a handle some library left open (a reconnecting client) must not keep us alive.
setTimeout(() => process.exit(code), 5_000).unref();
