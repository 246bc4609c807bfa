#!/usr/bin/env bash
# `npm start`: install, build, bring up a local cluster (etcd, a manager, three agents) and deploy the hello
# example on it. `npx flotilla dev down` stops it all.
source "$(dirname "$0")/lib.sh"
setup
need_debs etcd-server redis-server
cd "$ROOT"
say "validating the example stacks"
npx --no-install flotilla stack validate -c examples/web/stack.yml
npx --no-install flotilla stack validate -c examples/hello/stack.yml
say "flotilla dev up --nodes 3"
npx --no-install flotilla dev up --nodes 3
say "flotilla stack deploy -c examples/hello/stack.yml hello"
npx --no-install flotilla stack deploy -c examples/hello/stack.yml hello
for _ in $(seq 1 30); do
  npx --no-install flotilla service ls | grep -q ' 3/3 ' && break
  sleep 1
done
say "flotilla service ls"
npx --no-install flotilla service ls
say "flotilla service ps hello_hello"
npx --no-install flotilla service ps hello_hello
say "the cluster keeps running in the background. Try: npx flotilla node ls, npx flotilla service scale hello_hello=6, npx flotilla node update --availability drain NODE; stop it with: npx flotilla dev down"
