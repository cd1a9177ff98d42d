#!/bin/sh
# Runs the demo: installs what it needs, builds ipsecgw and runs `ipsecgw demo`.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
PATH=/usr/local/go/bin:$PATH exec make demo
