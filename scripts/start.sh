#!/usr/bin/env bash
# `npm start`: install, build, then validate the example stack and print its normalized form.
# (Later this brings up a local cluster and deploys the example; the cluster does not exist yet.)
source "$(dirname "$0")/lib.sh"
setup
cd "$ROOT"
say "flotilla stack config -c examples/web/stack.yml"
npx --no-install flotilla stack config -c examples/web/stack.yml
say "the example stack is valid. Try: npx flotilla stack validate -c examples/web/stack.yml, or edit it and break it"
