#!/usr/bin/env bash
# `npm start`: install, build, bring up a local cluster and deploy an example on it. As root, each node is a
# network-namespace host with its own containerd, and the web example (built from Debian's busybox, pushed to a
# local registry) runs behind a published port; otherwise nodes share loopback and run the hello example as
# plain processes. `npx flotilla dev down` stops it all.
source "$(dirname "$0")/lib.sh"
setup
need_debs etcd-server redis-server
if [ "$(id -u)" = 0 ]; then
  need_debs containerd runc tini docker-registry busybox-static iproute2 nftables curl golang-github-containers-common
fi
cd "$ROOT"
say "validating the example stacks"
npx --no-install flotilla stack validate -c examples/web/stack.yml
npx --no-install flotilla stack validate -c examples/hello/stack.yml
say "flotilla dev up --nodes 3"
npx --no-install flotilla dev up --nodes 3
if [ "$(id -u)" = 0 ]; then
  export FLOTILLA_REGISTRY=198.19.0.1:5000
  # Deploys pin the images to digests through the dev registry, which serves plain HTTP.
  export FLOTILLA_INSECURE_REGISTRY=198.19.0.1:5000
  say "flotilla stack deploy --wait -c examples/web/stack.yml web"
  npx --no-install flotilla stack deploy --wait -c examples/web/stack.yml web
  say "flotilla service ps web_web"
  npx --no-install flotilla service ps web_web
  say "curl http://198.19.0.11:8080/ (any node answers, from a task on any node)"
  for host in 11 12 13; do curl -s --max-time 3 "http://198.19.0.$host:8080/" || true; done
  say "the cluster keeps running in the background. Try: npx flotilla dev kill-node 1 (and watch npx flotilla service ps web_web), npx flotilla dev restore-node 1, npx flotilla service scale web_web=6, npx flotilla service logs web_web; stop it with: npx flotilla dev down"
  exit 0
fi
# Process executor: no image runs, so none is pinned (no registry is asked).
say "flotilla stack deploy --resolve-image never -c examples/hello/stack.yml hello"
npx --no-install flotilla stack deploy --resolve-image never -c examples/hello/stack.yml hello
for _ in $(seq 1 30); do
  npx --no-install flotilla service ls | grep -q ' 3/3 ' && break
  sleep 1
done
say "flotilla service ls"
npx --no-install flotilla service ls
say "flotilla service ps hello_hello"
npx --no-install flotilla service ps hello_hello
say "the cluster keeps running in the background. Try: npx flotilla node ls, npx flotilla service scale hello_hello=6, npx flotilla node update --availability drain NODE; stop it with: npx flotilla dev down"
