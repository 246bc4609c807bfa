#!/usr/bin/env bash
# Generates gRPC stubs for containerd's API from the .proto files of Debian's golang-github-containerd-containerd-dev
# (and the gogo packages they import). The files are staged under .protos/ by import path and never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=/usr/share/gocode/src
need=(
  "$GO/github.com/containerd/containerd/api:golang-github-containerd-containerd-dev"
  "$GO/github.com/gogo/protobuf/gogoproto/gogo.proto:golang-github-gogo-protobuf-dev"
  "$GO/github.com/gogo/googleapis/google/rpc/status.proto:golang-github-gogo-googleapis-dev"
)
for entry in "${need[@]}"; do
  if [ ! -e "${entry%%:*}" ]; then
    echo "containerd's API definitions are missing (${entry%%:*}): install them as root with" >&2
    echo "  apt-get install golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev" >&2
    exit 1
  fi
done
stage=".protos"
rm -rf "$stage"
mkdir -p .protos/github.com/containerd/containerd/protobuf/plugin .protos/gogoproto .protos/google/rpc
cp -r "$GO/github.com/containerd/containerd/api" .protos/github.com/containerd/containerd/
cp "$GO/github.com/containerd/containerd/protobuf/plugin/fieldpath.proto" .protos/github.com/containerd/containerd/protobuf/plugin/
cp "$GO/github.com/gogo/protobuf/gogoproto/gogo.proto" .protos/gogoproto/
cp "$GO/github.com/gogo/googleapis/google/rpc/status.proto" .protos/google/rpc/
# The ttrpc event service is for shims, not clients.
rm -rf .protos/github.com/containerd/containerd/api/services/ttrpc
find .protos -type f ! -name '*.proto' -delete
# Generated beside src/gen, then swapped in, so a concurrent build never sees a half-written tree.
out=".gen-$$"
npx --no-install buf generate .protos --template buf.gen.yaml --path .protos/github.com/containerd/containerd/api --output "$out"
rm -rf src/gen
mv "$out/src/gen" src/gen
rm -rf "$out"
