package interop

import (
	"flag"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/spd"
	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/strongswan/charontest"
)

var capture = flag.String("capture", "", "write the IKE messages charon sends into this fuzz corpus directory")

const psk = "interop-test-psk-7f3a9c"

// gateway is the engine under test, its sockets bound inside a namespace.
type gateway struct {
	*Gateway
	e *ike.Engine
}

func startGateway(t *testing.T, ns string, local netip.Addr, peer *ike.PeerConfig, tweak func(*ike.Config)) *gateway {
	t.Helper()
	g := &gateway{Gateway: NewGateway(t, ns, local, 20*time.Second)}
	cfg := ike.Config{
		Transport: g.Conn, Installer: g.Rec, Logger: g.Logger,
		Retransmit: ike.Retransmit{Timeout: time.Second, Base: 1.4, Tries: 3},
		RekeyGrace: 100 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := ike.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPeers([]*ike.PeerConfig{peer}); err != nil {
		t.Fatal(err)
	}
	g.e = e
	recv := e.Receive
	if *capture != "" {
		recv = charontest.CaptureSeeds(t, *capture, e.Receive)
	}
	g.Serve(t, e.Run, recv)
	return g
}

// Topology: the gateway under test in site A's gateway namespace
// (outside 172.31.0.1, LAN 10.1.1.0/24), charon in site B's (172.31.0.2,
// LAN 10.2.2.0/24).
var (
	gwAddr     = netip.MustParseAddr("172.31.0.1")
	charonAddr = netip.MustParseAddr("172.31.0.2")
)

func swanctlConf(ikeProposals, espProposals, localTS, remoteTS, extra string) string {
	return fmt.Sprintf(`connections {
  s2s {
    version = 2
    local_addrs = %[5]s
    remote_addrs = %[6]s
    proposals = %[1]s
    rekey_time = 0
    %[7]s
    local {
      auth = psk
      id = %[5]s
    }
    remote {
      auth = psk
      id = %[6]s
    }
    children {
      net {
        local_ts = %[3]s
        remote_ts = %[4]s
        esp_proposals = %[2]s
        rekey_time = 0
        start_action = none
      }
    }
  }
}
secrets {
  ike-gw {
    id-a = %[5]s
    id-b = %[6]s
    secret = "%[8]s"
  }
}
`, ikeProposals, espProposals, localTS, remoteTS, charonAddr, gwAddr, extra, psk)
}

func permit(src, dst string) ike.ACLLine {
	return ike.ACLLine{Line: 1, Text: fmt.Sprintf("permit ip %s %s", src, dst),
		Sel: spd.Selector{Src: netip.MustParsePrefix(src), Dst: netip.MustParsePrefix(dst)}}
}

func ourPeer(p ike.IKEProposal, esp ike.ChildProposal, pfs keymat.Group, line ike.ACLLine) *ike.PeerConfig {
	return &ike.PeerConfig{
		Name: "charon", Local: gwAddr, Remote: netip.PrefixFrom(charonAddr, 32), LocalPSK: []byte(psk),
		Proposals: []ike.IKEProposal{p},
		Children: []*ike.ChildConfig{{Name: "vpnmap 10", Map: "vpnmap", Seq: 10, ACL: "101", Lines: []ike.ACLLine{line},
			Proposals: []ike.ChildProposal{esp}, PFS: pfs}},
	}
}

var (
	gcm128 = ike.ChildProposal{Name: "gcm", Protocol: message.ProtoESP, Transform: crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}}
	cbc256 = ike.ChildProposal{Name: "cbc", Protocol: message.ProtoESP, Transform: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}}
)

func sameIKE(t *testing.T, ours ike.IKESAInfo, theirs strongswan.IKESA) {
	t.Helper()
	if theirs.SPIi != fmt.Sprintf("%016x", ours.SPIi) || theirs.SPIr != fmt.Sprintf("%016x", ours.SPIr) || theirs.State != "ESTABLISHED" {
		t.Fatalf("IKE SA: charon %s_i %s_r %s, ours %016x_i %016x_r", theirs.SPIi, theirs.SPIr, theirs.State, ours.SPIi, ours.SPIr)
	}
}

func fmtHex(v uint64, width int) string { return fmt.Sprintf("%0*x", width, v) }

func itoa(v uint64) string { return fmt.Sprint(v) }
