package strongswan

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"ipsecgw/topo"
)

func TestSwanctlConfRefusesLineBreaks(t *testing.T) {
	c := Conn{Local: mustAddr("172.31.0.1"), Remote: mustAddr("172.31.0.2"),
		LocalTS: prefixList("10.1.1.0/24"), RemoteTS: prefixList("10.2.2.0/24"), PSK: []byte("k"),
		LocalID: "a\n}"}
	if _, err := SwanctlConf(c); err == nil {
		t.Fatal("an identity with a line break was accepted")
	}
	c.LocalID = ""
	text, err := SwanctlConf(c, c.Mirror())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"local_ts = 10.1.1.0/24", "remote_ts = 10.1.1.0/24", "secret = 0x6b", "esp_proposals = aes128gcm16"} {
		if !strings.Contains(text, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, text)
		}
	}
}

// TestTunnel brings up a libipsec tunnel between the gateways of a topology
// and pings host to host through it.
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
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	conn := Conn{Local: top.A.Outside.Addr(), Remote: top.B.Outside.Addr(),
		LocalTS: []netip.Prefix{top.A.LAN()}, RemoteTS: []netip.Prefix{top.B.LAN()},
		PSK: []byte("benchmark key, not a secret")}
	var cs []*Charon
	for i, site := range []*topo.Site{&top.A, &top.B} {
		c, err := Start(ctx, Options{NS: site.GatewayNS, Dir: t.TempDir(), InstallRoutes: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Stop()
			if t.Failed() {
				t.Logf("charon in %s:\n%s", c.NS, c.Log())
			}
		})
		cc := conn
		if i == 1 {
			cc = conn.Mirror()
		}
		if err := c.Load(ctx, cc); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if err := cs[0].Initiate(ctx, "net"); err != nil {
		t.Fatal(err)
	}
	sa, err := cs[1].WaitChild(ctx, "net")
	if err != nil {
		t.Fatal(err)
	}
	if ch := sa.Children; len(ch) != 1 {
		t.Fatalf("responder has %d CHILD_SAs, want 1: %+v", len(ch), sa)
	}
	for _, ch := range sa.Children {
		if ch.Encr != "AES_GCM_16" || ch.EncrKeysize != "128" {
			t.Errorf("CHILD_SA uses %s-%s, want AES_GCM_16-128", ch.Encr, ch.EncrKeysize)
		}
	}
	if err := topo.Run(top.A.HostNS, "ping", "-c", "3", "-i", "0.2", "-W", "2", top.B.Host.Addr().String()); err != nil {
		t.Fatal(err)
	}
	sas, err := cs[0].SAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range sas {
		for _, ch := range sa.Children {
			if ch.PacketsOut == "" || ch.PacketsOut == "0" {
				t.Errorf("initiator's CHILD_SA counted no outbound packets: %+v", ch)
			}
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func prefixList(ps ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}
