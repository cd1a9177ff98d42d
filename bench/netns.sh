#!/bin/sh
# Host-to-host throughput through ipsecgw, strongSwan (kernel-libipsec),
# wireguard-go and bare kernel forwarding on namespace topologies
# (`make bench-netns`). Needs root. Arguments go to the benchmark program:
#   bench/netns.sh -rounds 5 -profile
#   bench/netns.sh -scenarios kernel,ipsecgw -tcp 10s
# Results: bin/netns-results/{results.txt,results.json,chart.svg,profile.txt}.
set -eu
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
	echo "bench-netns builds network namespaces: run it as root" >&2
	exit 1
fi
go build -o bin/ipsecgw ./cmd/ipsecgw
go build -o bin/bench-netns ./bench/netns
exec ./bin/bench-netns -ipsecgw bin/ipsecgw "$@"
