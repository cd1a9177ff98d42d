package interop

import (
	"flag"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1"
	ikeinterop "ipsecgw/ike/interop"
	"ipsecgw/ike/keymat"
	"ipsecgw/spd"
	"ipsecgw/topo"
	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/strongswan/charontest"
)

var capture = flag.String("capture", "", "write the ISAKMP messages charon sends into this fuzz corpus directory")

const psk = "interop-v1-psk-5e2b71"

// gateway is the IKEv1 engine under test, its sockets bound inside a namespace.
type gateway struct {
	*ikeinterop.Gateway
	e *ikev1.Engine
}

func startGateway(t *testing.T, ns string, local netip.Addr, peer *ikev1.PeerConfig) *gateway {
	t.Helper()
	g := &gateway{Gateway: ikeinterop.NewGateway(t, ns, local, 30*time.Second)}
	e, err := ikev1.New(ikev1.Config{
		Transport: g.Conn, Installer: recorder{g.Rec}, Logger: g.Logger,
		Retransmit: ike.Retransmit{Timeout: time.Second, Base: 1.4, Tries: 3},
		RekeyGrace: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPeers([]*ikev1.PeerConfig{peer}); err != nil {
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

// recorder records the engine's IPsec SAs with the IKEv2 interop tests'
// Recorder, one pair at a time. charon negotiates no AH+ESP bundles, so
// every IPsecSA holds one pair.
type recorder struct{ *ikeinterop.Recorder }

func (r recorder) InstallInbound(sa *ikev1.IPsecSA) error {
	return r.Recorder.InstallInbound(sa.Traffic())
}

func (r recorder) InstallOutbound(sa, old *ikev1.IPsecSA) error {
	var prev *ike.ChildSA
	if old != nil {
		prev = old.Traffic()
	}
	return r.Recorder.InstallOutbound(sa.Traffic(), prev)
}

func (r recorder) RemoveIPsecSA(sa *ikev1.IPsecSA, why ike.Reason) {
	r.Recorder.RemoveChildSA(sa.Traffic(), why)
}

// Topology: ipsecgw in site A's gateway namespace (LAN 10.1.1.0/24),
// charon in site B's (LAN 10.2.2.0/24).
type env struct {
	tp            *topo.Topology
	gwAddr, their netip.Addr
	c             *charontest.Charon
}

func setup(t *testing.T) *env {
	t.Helper()
	tp := charontest.Topology(t)
	e := &env{tp: tp, gwAddr: tp.A.Outside.Addr(), their: tp.B.Outside.Addr()}
	e.c = startCharon(t, tp.B.GatewayNS)
	return e
}

func (e *env) swanctlConf(ikeProposals, espProposals, extra, childExtra string) string {
	return e.swanctlConfTS(ikeProposals, espProposals, extra, childExtra, e.tp.A.LAN().String())
}

// swanctlConfTS is swanctlConf with charon's remote_ts (our side) given.
func (e *env) swanctlConfTS(ikeProposals, espProposals, extra, childExtra, remoteTS string) string {
	return fmt.Sprintf(`connections {
  s2s {
    version = 1
    aggressive = no
    local_addrs = %[1]s
    remote_addrs = %[2]s
    proposals = %[3]s
    rekey_time = 0
    %[5]s
    local {
      auth = psk
      id = %[1]s
    }
    remote {
      auth = psk
      id = %[2]s
    }
    children {
      net {
        local_ts = %[7]s
        remote_ts = %[8]s
        esp_proposals = %[4]s
        rekey_time = 0
        start_action = none
        %[6]s
      }
    }
  }
}
secrets {
  ike-gw {
    id-a = %[1]s
    id-b = %[2]s
    secret = "%[9]s"
  }
}
`, e.their, e.gwAddr, ikeProposals, espProposals, extra, childExtra, e.tp.B.LAN(), remoteTS, psk)
}

func (e *env) peer(pol ikev1.Policy, set ikev1.TransformSet, pfs keymat.Group) *ikev1.PeerConfig {
	line := ike.ACLLine{Line: 1, Text: fmt.Sprintf("permit ip %s %s", e.tp.A.LAN(), e.tp.B.LAN()),
		Sel: spd.Selector{Src: e.tp.A.LAN(), Dst: e.tp.B.LAN()}}
	return &ikev1.PeerConfig{
		Name: "charon", Local: e.gwAddr, Remote: netip.PrefixFrom(e.their, 32), PSK: ike.Secret(psk),
		Policies: []ikev1.Policy{pol},
		Children: []*ikev1.ChildConfig{{Name: "vpnmap 10", Map: "vpnmap", Seq: 10, ACL: "101", Lines: []ike.ACLLine{line},
			TransformSets: []ikev1.TransformSet{set}, PFS: pfs}},
	}
}

var (
	polAES256SHA1 = ikev1.Policy{Priority: 10, Cipher: crypto.CipherAESCBC, KeyBits: 256, Hash: ikev1.HashSHA1, Group: keymat.MODP1024}
	polAES128SHA2 = ikev1.Policy{Priority: 10, Cipher: crypto.CipherAESCBC, KeyBits: 128, Hash: ikev1.HashSHA256, Group: keymat.MODP2048}
	setAES256SHA1 = ikev1.TransformSet{Name: "aes256-sha", ESP: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA1_96}}
	setGCM128     = ikev1.TransformSet{Name: "gcm128", ESP: crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}}
)

func sameISAKMP(t *testing.T, ours ikev1.ISAKMPSAInfo, theirs strongswan.IKESA) {
	t.Helper()
	if theirs.Version != "1" || theirs.State != "ESTABLISHED" {
		t.Fatalf("charon: IKEv%s %s", theirs.Version, theirs.State)
	}
	if ours.State != "QM_IDLE" || !ours.NAT || ours.Dst.Port() != 4500 {
		t.Fatalf("ours: %+v (charon's kernel-libipsec fakes a NAT: we must float to 4500)", ours)
	}
}
