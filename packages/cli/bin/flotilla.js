#!/usr/bin/env node
import { main } from '../dist/index.js';

const code = await main(process.argv);
process.exitCode = code;
// Output is flushed by now; a handle some library left open (a reconnecting client) must not keep us alive.
setTimeout(() => process.exit(code), 5_000).unref();
