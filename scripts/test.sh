#!/bin/sh
# Runs every test: installs what they need (Debian packages, Go), then
# `make test`. As root the integration tests build network namespaces.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
PATH=/usr/local/go/bin:$PATH exec make test
