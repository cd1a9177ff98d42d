#!/bin/sh
# Installs what building, testing and the demo need on Debian 12, as root:
# Debian packages (iproute2, ethtool, tshark, strongSwan with kernel-libipsec,
# iperf3, wireguard-go for the benchmarks) and, when no Go >= 1.26 is on the
# PATH, the Go toolchain from the Go module proxy into /usr/local/go.
# Idempotent: a second run installs nothing.
set -eu

GO_VERSION=1.26.8
PKGS="make gcc git ca-certificates curl unzip iproute2 ethtool iputils-ping tcpdump tshark
 iperf3 strongswan-charon strongswan-swanctl libcharon-extra-plugins
 libstrongswan-standard-plugins wireguard-go wireguard-tools"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no without a prompt.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	# --no-install-recommends: recommends would pull a kernel image and systemd.
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

have_go() {
	command -v go >/dev/null 2>&1 || return 1
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
	major=$(echo "$v" | cut -d. -f1); minor=$(echo "$v" | cut -d. -f2)
	[ "${major:-0}" -gt 1 ] || [ "${minor:-0}" -ge 26 ]
}
if ! have_go; then
	[ -x /usr/local/go/bin/go ] && PATH=/usr/local/go/bin:$PATH
fi
if ! have_go; then
	echo "setup: installing Go $GO_VERSION from the Go module proxy"
	proxy=${GOPROXY:-https://proxy.golang.org}
	proxy=${proxy%%,*}
	tmp=$(mktemp -d)
	curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip"
	unzip -q "$tmp/go.zip" -d "$tmp"
	rm -rf /usr/local/go
	mv "$tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" /usr/local/go
	chmod +x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/* 2>/dev/null || true
	rm -rf "$tmp"
fi
