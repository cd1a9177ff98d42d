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
	named := []string{"ike_sa_up", "ike_sa_failed", "child_sa_up", "child_sa_failed", "rx", "tx", "tx_error", "retransmit"}
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
	for _, name := range []string{"ipsecgw_ike_sas", "ipsecgw_ike_child_sas", "ipsecgw_ike_negotiations_total", "ipsecgw_ike_messages_total", "ipsecgw_ike_events_total"} {
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
