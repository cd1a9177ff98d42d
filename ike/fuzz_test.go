package ike

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
)

type discard struct{}

func (discard) Send(netip.AddrPort, netip.AddrPort, []byte) error { return nil }

type nopInstaller struct{}

func (nopInstaller) InstallInbound(*ChildSA) error            { return nil }
func (nopInstaller) InstallOutbound(*ChildSA, *ChildSA) error { return nil }
func (nopInstaller) RemoveChildSA(*ChildSA, Reason)           {}
func (nopInstaller) IKESAUp(*IKESAInfo)                       {}
func (nopInstaller) IKESADown(*IKESAInfo, Reason)             {}
func (nopInstaller) AcquireFailed(Acquire, error)             {}

// FuzzReceive feeds arbitrary datagrams to a responder engine's receive
// path (the first byte picks port 500 or 4500): whatever arrives is
// answered or counted and dropped, never a panic. Seeds are strongSwan's
// IKE_SA_INIT request and one of ours.
func FuzzReceive(f *testing.F) {
	for _, name := range []string{"strongswan-responder-cbc-01", "strongswan-ts-mismatch-01", "strongswan-initiator-gcm-02"} {
		b, err := os.ReadFile("message/testdata/fuzz/FuzzDecode/" + name)
		if err != nil {
			f.Fatal(err)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(strings.Split(string(b), "\n")[1], "[]byte("), ")"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{0}, s...))
	}
	ke, _ := keymat.NewKeyExchange(keymat.ECP256, nil)
	m := &message.Message{Header: message.Header{SPIi: 42, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator}}
	m.Payloads = []message.Payload{&message.SA{Proposals: ikeOffer(DefaultIKEProposals(), nil)},
		&message.KE{Group: uint16(keymat.ECP256), Data: ke.Public()}, &message.Nonce{Data: make([]byte, 32)},
		&message.Notify{NType: message.IKEV2_FRAGMENTATION_SUPPORTED}}
	init, _ := m.Encode(nil)
	f.Add(append([]byte{0}, init...))
	f.Add(append([]byte{1, 0, 0, 0, 0}, init...))
	f.Add([]byte{1, 0xff})

	e, err := New(Config{Transport: discard{}, Installer: nopInstaller{}, CookieThreshold: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	e.peers = newPeerIndex([]*PeerConfig{{Name: "any", Remote: netip.MustParsePrefix("0.0.0.0/0"), LocalPSK: []byte("k"),
		Children: []*ChildConfig{{Name: "c", Proposals: []ChildProposal{gcm128()}}}}})
	remote := netip.MustParseAddrPort("192.0.2.2:500")
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		port := uint16(500)
		if b[0]&1 == 1 {
			port = 4500
		}
		e.receive(netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), remote, b[1:])
		e.loop.RunQueued()
		if len(e.sas) > 1000 { // keep the half-open table small
			for _, sa := range e.sortedSAs() {
				sa.destroy(ReasonShutdown)
			}
		}
	})
}
