#!/usr/bin/env bash
# `npm run bench -- NAME`: runs bench/NAME.ts; its last line is one JSON object of figures.
source "$(dirname "$0")/lib.sh"
name="${1:-}"
if [ -z "$name" ] || [ ! -f "$ROOT/bench/$name.ts" ]; then
  echo "usage: npm run bench -- NAME   (one of: $(cd "$ROOT/bench" && ls *.ts | sed 's/\.ts$//' | tr '\n' ' '))" >&2
  exit 2
fi
setup >&2
# Benches with real containers need the runtime and the servers the tests use; the network bench measures with
# iperf3 inside namespace hosts and containers.
case "$name" in
  agent | network | failover | rollout | outage) need_debs etcd-server redis-server docker-registry busybox-static containerd runc tini iproute2 nftables golang-github-containers-common >&2 ;;
esac
if [ "$name" = network ]; then need_debs iperf3 >&2; fi
# The UI bench drives the page in Debian's chromium.
if [ "$name" = ui ]; then need_debs chromium >&2; fi
# The fuzz runner starts managers on their own etcd.
if [ "$name" = fuzz ]; then need_debs etcd-server >&2; fi
cd "$ROOT"
shift
exec node --import tsx "bench/$name.ts" "$@"
