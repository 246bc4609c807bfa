#!/usr/bin/env bash
# `npm run bench -- NAME`: runs bench/NAME.ts; its last line is one JSON object of figures.
source "$(dirname "$0")/lib.sh"
name="${1:-}"
if [ -z "$name" ] || [ ! -f "$ROOT/bench/$name.ts" ]; then
  echo "usage: npm run bench -- NAME   (one of: $(cd "$ROOT/bench" && ls *.ts | sed 's/\.ts$//' | tr '\n' ' '))" >&2
  exit 2
fi
setup >&2
cd "$ROOT"
shift
exec node --import tsx "bench/$name.ts" "$@"
