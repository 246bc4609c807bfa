#!/usr/bin/env bash
# `npm test`: install, build, lint and type-check, then every test project (unit, integration, e2e).
# Extra arguments go to vitest, e.g. `npm test -- --project unit`.
source "$(dirname "$0")/lib.sh"
setup
# Integration tests run real etcd and Redis servers (started on loopback ports by the tests themselves).
need_debs etcd-server redis-server openssl docker-registry apache2-utils busybox-static
# The containerd executor's tests run a private containerd with runc, and tini for `init: true`; the overlay
# tests (network-namespace hosts) drive iproute2 and nftables; containers get the seccomp profile of containers-common.
need_debs containerd runc tini iproute2 nftables golang-github-containers-common
# The web UI's browser tests drive Debian's Chromium, headless (never a browser a test tool downloads).
need_debs chromium
cd "$ROOT"
say "lint and format check (biome, buf)"
npx --no-install biome ci .
(cd protos && npx --no-install buf lint)
say "import cycles between modules"
node --import tsx scripts/import-cycles.ts
say "type check"
npx --no-install turbo run typecheck --output-logs=errors-only
npx --no-install tsc -p tsconfig.json --noEmit
say "tests"
npx --no-install vitest run "$@"
