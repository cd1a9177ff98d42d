package charontest

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ipsecgw/topo/strongswan"
)

// sasWith is one IKE SA in state with n CHILD_SAs in child state.
func sasWith(state, child string, n int) []strongswan.IKESA {
	sa := strongswan.IKESA{State: state, Children: map[string]strongswan.ChildSA{}}
	for i := range n {
		id := strconv.Itoa(i + 1)
		sa.Children["net-"+id] = strongswan.ChildSA{UniqueID: id, State: child}
	}
	return []strongswan.IKESA{sa}
}

func TestCaptureSeeds(t *testing.T) {
	dir := t.TempDir()
	var passed int
	recv := CaptureSeeds(t, dir, func(l, r netip.AddrPort, b []byte) { passed++ })
	peer := netip.MustParseAddrPort("192.0.2.2:500")
	recv(netip.MustParseAddrPort("192.0.2.1:500"), peer, []byte("ike500"))
	recv(netip.MustParseAddrPort("192.0.2.1:4500"), peer, []byte("\x00\x00\x00\x00ike4500"))
	recv(netip.MustParseAddrPort("192.0.2.1:4500"), peer, []byte("\x01\x02\x03\x04esp"))
	if passed != 3 {
		t.Fatalf("%d datagrams passed on, want 3", passed)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("seeds %v, want 2 (ESP is not saved)", files)
	}
	for i, want := range []string{"ike500", "ike4500"} {
		name := filepath.Join(dir, "TestCaptureSeeds-0"+strconv.Itoa(i+1))
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); !strings.HasPrefix(s, "go test fuzz v1\n") || !strings.Contains(s, "[]byte(\""+want+"\")") {
			t.Errorf("%s:\n%s", name, s)
		}
	}
}

func TestOneChild(t *testing.T) {
	for _, c := range []struct {
		state, child string
		n            int
		want         bool
	}{{"ESTABLISHED", "INSTALLED", 1, true}, {"CONNECTING", "INSTALLED", 1, false}, {"ESTABLISHED", "REKEYED", 1, false}, {"ESTABLISHED", "INSTALLED", 2, false}} {
		sa := sasWith(c.state, c.child, c.n)
		if got := OneChild(sa); got != c.want {
			t.Errorf("%s with %d %s: OneChild %v", c.state, c.n, c.child, got)
		}
	}
}
