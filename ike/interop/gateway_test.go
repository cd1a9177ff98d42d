package interop

import (
	"testing"
	"time"

	"ipsecgw/ike"
)

func TestRecorder(t *testing.T) {
	r := NewRecorder(time.Second)
	a := &ike.ChildSA{InSPI: 0xa, OutSPI: 0x1}
	b := &ike.ChildSA{InSPI: 0xb, OutSPI: 0x2}
	r.InstallOutbound(b, nil)
	if !r.Seen("ERROR outbound 0000000b before inbound") {
		t.Errorf("outbound before inbound not flagged: %v", r.Events)
	}
	r.RemoveChildSA(b, ike.ReasonCleared)
	r.InstallInbound(a)
	if r.Only() != nil {
		t.Error("Only returned an SA installed inbound only")
	}
	r.InstallOutbound(a, nil)
	r.Wait(t, "one SA", func(r *Recorder) bool { return len(r.Out) == 1 })
	if r.Only() != a {
		t.Errorf("Only = %v, want %v", r.Only(), a)
	}
	r.InstallInbound(b)
	r.InstallOutbound(b, a)
	if r.Only() != b || len(r.In) != 2 {
		t.Errorf("after replacing a by b: out %v in %v", r.Out, r.In)
	}
	r.IKESAUp(&ike.IKESAInfo{ID: 7})
	r.IKESADown(&ike.IKESAInfo{ID: 7}, ike.ReasonCleared)
	if len(r.IKEs) != 0 || !r.Seen("up 7") || !r.Seen("down 7") {
		t.Errorf("IKE SA events %v, left %v", r.Events, r.IKEs)
	}
}
