package charontest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"ipsecgw/topo/strongswan"
)

// OneIKE holds when charon has exactly one IKE (or ISAKMP) SA, established.
func OneIKE(sas []strongswan.IKESA) bool { return len(sas) == 1 && sas[0].State == "ESTABLISHED" }

// OneChild holds when that SA has exactly one CHILD_SA (IPsec SA),
// installed.
func OneChild(sas []strongswan.IKESA) bool {
	return OneIKE(sas) && len(sas[0].Children) == 1 && sas[0].ChildList()[0].State == "INSTALLED"
}

// Receive is how a gateway under test takes a datagram from its socket.
type Receive = func(local, remote netip.AddrPort, b []byte)

// CaptureSeeds wraps a gateway's receive function so that every IKE or
// ISAKMP message charon sends is also written into dir as a go test fuzz
// seed, named after the test and numbered in order of arrival. On port
// 4500 the non-ESP marker is stripped and ESP is passed through unsaved.
func CaptureSeeds(t testing.TB, dir string, next Receive) Receive {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	return func(l, r netip.AddrPort, b []byte) {
		msg := b
		if l.Port() == 4500 {
			if len(b) < 4 || !bytes.Equal(b[:4], []byte{0, 0, 0, 0}) {
				next(l, r, b)
				return
			}
			msg = b[4:]
		}
		mu.Lock()
		n++
		name := filepath.Join(dir, fmt.Sprintf("%s-%02d", strings.ReplaceAll(t.Name(), "/", "-"), n))
		mu.Unlock()
		os.WriteFile(name, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", msg)), 0o644)
		next(l, r, b)
	}
}
