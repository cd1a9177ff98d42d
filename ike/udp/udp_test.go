package udp

import (
	"net/netip"
	"testing"
	"time"
)

func TestSendReceive(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, err := Listen([]netip.Addr{lo}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen([]netip.Addr{lo}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	aAddr, bAddr := a.Addrs()[0], b.Addrs()[0]
	if aAddr.Port() == 0 || aAddr.Addr() != lo {
		t.Fatalf("bound %v", aAddr)
	}
	got := make(chan [3]any, 1)
	a.Serve(func(l, r netip.AddrPort, p []byte) { got <- [3]any{l, r, string(p)} })
	if err := b.Send(bAddr, aAddr, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r[0] != aAddr || r[1] != bAddr || r[2] != "hello" {
			t.Fatalf("got %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	if err := b.Send(netip.MustParseAddrPort("127.0.0.1:1"), aAddr, nil); err == nil {
		t.Fatal("sent from an unbound address")
	}
}
