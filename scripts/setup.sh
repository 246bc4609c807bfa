#!/usr/bin/env bash
# Installs what Flotilla needs and builds it.
source "$(dirname "$0")/lib.sh"
setup
