package wireguard

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"ipsecgw/topo"
)

// TestTunnel connects wireguard-go in the gateways of a topology and pings
// host to host through it.
func TestTunnel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces")
	}
	if err := Available(); err != nil {
		t.Skip(err)
	}
	top, err := topo.Build(topo.Options{KernelForwarding: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { top.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var ds []*Device
	for _, site := range []*topo.Site{&top.A, &top.B} {
		d, err := Start(ctx, Options{NS: site.GatewayNS, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := d.Stop(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("wireguard-go in %s:\n%s", d.NS, d.Output())
			}
		})
		ds = append(ds, d)
	}
	if ds[0].PublicKey == ds[1].PublicKey || len(ds[0].PublicKey) != 44 {
		t.Fatalf("public keys %q and %q", ds[0].PublicKey, ds[1].PublicKey)
	}
	if err := Connect(ctx, ds[0], top.A.Outside.Addr(), []netip.Prefix{top.A.LAN()},
		ds[1], top.B.Outside.Addr(), []netip.Prefix{top.B.LAN()}); err != nil {
		t.Fatal(err)
	}
	if err := topo.Run(top.A.HostNS, "ping", "-c", "3", "-i", "0.2", "-W", "2", top.B.Host.Addr().String()); err != nil {
		t.Fatal(err)
	}
	show, err := ds[0].Wg(ctx, "show", ds[0].Interface)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(show, "latest handshake") {
		t.Errorf("wg show after the ping has no handshake:\n%s", show)
	}
	key, err := os.ReadFile(ds[0].keyPath())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(show, strings.TrimSpace(string(key))) {
		t.Error("wg show printed the private key")
	}
}
