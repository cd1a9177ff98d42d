package slowpath

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ipsecgw/control"
	"ipsecgw/metrics"
)

// TestOpsWithIKE runs the operations layer on a gateway whose SAs IKEv2
// negotiated (the in-process pair of the IKE glue tests): show crypto ikev2
// sa and show crypto ipsec sa describe them, the metrics count every IKE
// counter, explain finds the negotiated SA, and clear crypto sa deletes it
// through IKE, after which traffic negotiates a new one.
func TestOpsWithIKE(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-gcm 128", staticEntry))
	seq := p.establish(t)
	ops := NewOps(p.a.gw, OpsConfig{IKE: p.a.neg}) // as the runtime wires it

	ikeSAs, err := ops.IKEv2SAs()
	if err != nil || len(ikeSAs) != 1 {
		t.Fatalf("show crypto ikev2 sa: %v %+v", err, ikeSAs)
	}
	var b bytes.Buffer
	control.WriteIKEv2SAs(&b, ikeSAs)
	sa := ikeSAs[0]
	if sa.Status != "READY" || sa.Role != "Initiator" || !strings.HasPrefix(sa.Remote, "192.0.2.2/") || len(sa.ChildSAs) != 1 ||
		sa.ChildSAs[0].Map != "vpn" || sa.ChildSAs[0].Seq != 10 || !strings.Contains(b.String(), "READY") {
		t.Errorf("show crypto ikev2 sa: %+v\n%s", sa, b.String())
	}

	flows, err := ops.IPsecSAs(control.SAFilter{Detail: true})
	if err != nil || len(flows) != 1 {
		t.Fatalf("show crypto ipsec sa: %v %+v", err, flows)
	}
	f := flows[0]
	b.Reset()
	control.WriteIPsecSAs(&b, flows, true)
	if f.Manual || f.Peer != "192.0.2.2" || f.Encaps == 0 || len(f.Inbound) != 1 || len(f.Outbound) != 1 ||
		f.CurrentSPI != f.Outbound[0].SPI || f.CurrentSPI != sa.ChildSAs[0].OutSPI {
		t.Errorf("show crypto ipsec sa: %+v\n%s", f, b.String())
	}
	for _, s := range append(f.Inbound, f.Outbound...) {
		if s.RemainingKB <= 0 || s.RemainingSec <= 0 || s.ReplayWindow == 0 || s.Status != "ACTIVE" || s.Transform != "esp-gcm 128" {
			t.Errorf("negotiated SA %+v: want a finite lifetime, replay detection, ACTIVE", s)
		}
	}
	if strings.Contains(b.String(), "unlimited") || !strings.Contains(b.String(), "replay detection support: Y") {
		t.Errorf("show crypto ipsec sa detail:\n%s", b.String())
	}

	// Every counter of the engine and the glue is exported: named metrics, drops, or
	// events.
	s := ops.Sample().IKE
	named := []string{"ike_sa_up", "ike_sa_failed", "child_sa_up", "child_sa_failed", "rx", "tx", "tx_error", "retransmit",
		"ike_sa_rekeyed", "child_sa_rekeyed", "dpd_sent", "dpd_peer_dead"}
	if s == nil || s.SAsByState["established"] != 1 || s.ChildSAs != 1 || s.IKEEstablished != 1 || s.ChildEstablished != 1 ||
		s.Sent == 0 || s.Received == 0 || len(named)+len(s.Drops)+len(s.Events) != len(p.a.neg.Stats()) {
		t.Errorf("IKE sample: %+v (counters: %v)", s, p.a.neg.Stats())
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(ops, "test"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]bool{}
	for _, mf := range mfs {
		families[mf.GetName()] = true
	}
	for _, name := range []string{"ipsecgw_ike_sas", "ipsecgw_ike_child_sas", "ipsecgw_ike_negotiations_total", "ipsecgw_ike_messages_total", "ipsecgw_ike_events_total",
		"ipsecgw_ike_rekeys_total", "ipsecgw_ike_dpd_events_total"} {
		if !families[name] {
			t.Errorf("no %s on a gateway running IKE", name)
		}
	}

	x, err := ops.Explain(control.ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "10.2.1.10", Proto: 17, SrcPort: 40000, DstPort: 5001})
	if err != nil || x.Action != control.ActionProtect || x.SA == nil || x.SA.Manual || x.SA.SPI != f.CurrentSPI {
		t.Errorf("explain: %v %+v", err, x)
	}

	res, err := ops.ClearSA(control.ClearSA{Peer: "192.0.2.2"})
	if err != nil || res.Deleted != 2 || res.Reinstalled != 0 {
		t.Fatalf("clear crypto sa peer: %v %+v", err, res)
	}
	old := f.CurrentSPI
	waitFor(t, "the cleared SAs gone", 5*time.Second, func() bool {
		fl, _ := ops.IPsecSAs(control.SAFilter{})
		return len(fl) == 0
	})
	before := p.got.Load()
	waitFor(t, "a new SA negotiated by traffic", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		return p.got.Load() > before
	})
	fl, err := ops.IPsecSAs(control.SAFilter{})
	if err != nil || len(fl) != 1 || fl[0].CurrentSPI == old {
		t.Errorf("after clear: %v %+v", err, fl)
	}
}

// TestOpsIKEFailures: when the peers cannot agree, the failure is counted
// by reason in the metrics at both ends and live explain says what the last
// attempt met and when.
func TestOpsIKEFailures(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-aes 256 esp-sha256-hmac", staticEntry))
	opsA, opsB := NewOps(p.a.gw, OpsConfig{IKE: p.a.neg}), NewOps(p.b.gw, OpsConfig{IKE: p.b.neg})
	seq := uint32(0)
	waitFor(t, "a failed negotiation", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		last, _ := p.a.neg.Failures()
		return len(last) > 0
	})
	for _, o := range []*Ops{opsA, opsB} {
		var n uint64
		for _, f := range o.Sample().IKE.Failures {
			if f.SA == "child" && f.Reason == "NO_PROPOSAL_CHOSEN" {
				n += f.N
			}
		}
		if n == 0 {
			t.Errorf("failures counted: %+v", o.Sample().IKE.Failures)
		}
	}
	x, err := opsA.Explain(control.ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "10.2.1.10", Proto: 17, SrcPort: 40000, DstPort: 5001})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(x.Problems, "\n")
	if !strings.Contains(text, "last attempt (CHILD_SA) failed") || !strings.Contains(text, "ago: NO_PROPOSAL_CHOSEN from 192.0.2.2 (no common transform set") {
		t.Errorf("explain at A: %+v", x)
	}
	last, _ := p.b.neg.Failures()
	if len(last) == 0 || !strings.Contains(failureText(&last[0], time.Now()), "NO_PROPOSAL_CHOSEN: this gateway refused 192.0.2.1") {
		t.Errorf("B's failures: %+v", last)
	}
}

// TestStaticPeerIdentity: a static peer must also be named by the
// profile's match identity remote address; otherwise authentication
// fails, at B as the responder, with a log line, and in B's counters.
func TestStaticPeerIdentity(t *testing.T) {
	polB := strings.Replace(policyFor("b", "esp-gcm 128", staticEntry),
		" match identity remote address 192.0.2.0 255.255.255.0", " match identity remote address 192.0.2.128 255.255.255.128", 1)
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), polB)
	seq := uint32(0)
	waitFor(t, "a refused authentication", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		last, _ := p.b.neg.Failures()
		return len(last) > 0
	})
	last, _ := p.b.neg.Failures()
	if f := last[0]; f.SA != "ike" || f.Code != "AUTHENTICATION_FAILED" || f.ByPeer || !strings.Contains(f.Detail, "192.0.2.128/25") {
		t.Fatalf("B's failure %+v", f)
	}
	lastA, _ := p.a.neg.Failures()
	if len(lastA) == 0 || lastA[0].Code != "AUTHENTICATION_FAILED" || !lastA[0].ByPeer {
		t.Fatalf("A's failures %+v", lastA)
	}
	if len(childSAs(p.a)) != 0 || p.got.Load() != 0 {
		t.Fatal("a tunnel came up with a peer the profile does not match")
	}
}
