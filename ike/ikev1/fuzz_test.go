package ikev1

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ipsecgw/ike"
)

type discard struct{}

func (discard) Send(netip.AddrPort, netip.AddrPort, []byte) error { return nil }

type nopInstaller struct{}

func (nopInstaller) InstallInbound(*IPsecSA) error        { return nil }
func (nopInstaller) InstallOutbound(_, _ *IPsecSA) error  { return nil }
func (nopInstaller) RemoveIPsecSA(*IPsecSA, ike.Reason)   {}
func (nopInstaller) IKESAUp(*ike.IKESAInfo)               {}
func (nopInstaller) IKESADown(*ike.IKESAInfo, ike.Reason) {}
func (nopInstaller) AcquireFailed(ike.Acquire, error)     {}

// FuzzReceive feeds datagrams to a responder engine (on both ports, so
// the non-ESP marker path runs too): nothing may panic, and each
// datagram is counted. Seeds are the messages strongSwan sent in the
// interop tests (the codec's corpus) and a main mode message 1.
func FuzzReceive(f *testing.F) {
	files, _ := filepath.Glob("isakmp/testdata/fuzz/FuzzDecode/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 {
			continue
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		if s, err := strconv.Unquote(lit); err == nil {
			f.Add([]byte(s), false)
		}
	}
	pa, _ := defaultPeers()
	pb := *pa
	pb.Remote = netip.MustParsePrefix("0.0.0.0/0")
	pb.Local = netip.Addr{}
	f.Fuzz(func(t *testing.T, b []byte, natt bool) {
		e, err := New(Config{Transport: discard{}, Installer: nopInstaller{}})
		if err != nil {
			t.Fatal(err)
		}
		e.peers = newPeerIndex([]*PeerConfig{&pb})
		local := netip.MustParseAddrPort("192.0.2.1:500")
		if natt {
			local = netip.MustParseAddrPort("192.0.2.1:4500")
			b = append([]byte{0, 0, 0, 0}, b...)
		}
		remote := netip.MustParseAddrPort("192.0.2.2:500")
		e.receive(local, remote, b)
		// Twice: the second copy is a retransmission for any state made.
		e.receive(local, remote, b)
		if e.stats[cRx].Load() != 2 {
			t.Fatal("datagram not counted")
		}
		for _, sa := range e.sas {
			sa.destroy(ike.ReasonShutdown)
		}
	})
}
