package slowpath

import (
	"net/netip"
	"strings"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1"
	"ipsecgw/spd"
)

// IKEv1 beside IKEv2: entries without `set ikev2-profile` negotiate with
// the IKEv1 engine (ike/ikev1), which shares the glue's Transport (the
// inject rings) and Installer (SAD installs and bindings). The glue keeps
// which engine negotiated each CHILD_SA, so lifetime events, DPD usage,
// deletes and failover go back to it.
//
//	ISAKMP major 1 punt ─▶ V1.Receive
//	ACQUIRE, entry without IKEv2 profile ─▶ V1.Acquire (set peer named ikev1.PeerName)
//	V1 ── v1Installer ──▶ the Negotiator's install path, marked IKEv1
//
// An IKEv1 IPsec SA arrives as one ikev1.IPsecSA. An AH+ESP bundle is
// installed as one CHILD_SA named by its ESP pair: each direction's ESP
// SA bundled with its AH SA (sad.Bundle, ESP inner), both in one SAD
// update, the outbound ESP SA bound to the entry (the encrypt node adds
// the AH), both unbound and deleted together; lifetime events of either
// go to the engine, which rekeys or deletes the bundle whole.

// v1Installer is the IKEv1 engine's Installer: the Negotiator's, with the
// CHILD_SAs marked as IKEv1's and failover through the IKEv1 engine.
type v1Installer struct{ x *Negotiator }

func (v v1Installer) InstallInbound(sa *ikev1.IPsecSA) error {
	return v.x.installInbound(sa.Traffic(), sa.Outer(), true)
}

func (v v1Installer) InstallOutbound(sa, replaces *ikev1.IPsecSA) error {
	var old *ike.ChildSA
	if replaces != nil {
		old = replaces.Traffic()
	}
	return v.x.installOutbound(sa.Traffic(), sa.Outer(), old)
}

func (v v1Installer) RemoveIPsecSA(sa *ikev1.IPsecSA, r ike.Reason) {
	v.x.RemoveChildSA(sa.Traffic(), r)
}
func (v v1Installer) IKESAUp(sa *ike.IKESAInfo)                 { v.x.IKESAUp(sa) }
func (v v1Installer) IKESADown(sa *ike.IKESAInfo, r ike.Reason) { v.x.IKESADown(sa, r) }
func (v v1Installer) AcquireFailed(a ike.Acquire, err error) {
	v.x.failover(a, err, v.x.v1PeerName, v.x.V1.Acquire)
}

// setV1Peers gives the IKEv1 engine the peers of the current gateway's
// configured crypto maps (temporary entries are IKEv2's own).
func (x *Negotiator) setV1Peers() error {
	if x.V1 == nil {
		return nil
	}
	gw := x.gw()
	peers, skipped := ikev1.PeersFromConfig(gw.Config.Policy, gw.configured)
	for _, s := range skipped {
		x.warnOnce("v1 "+s, "IKEv1 peer not negotiated", "reason", s)
	}
	if err := x.V1.SetPeers(peers); err != nil {
		return err
	}
	names := map[string]bool{}
	for _, p := range peers {
		names[p.Name] = true
	}
	x.mu.Lock()
	x.v1Peers = names
	x.mu.Unlock()
	x.log.Info("IKEv1 peers configured", "peers", len(peers))
	return nil
}

// v1PeerName is the IKEv1 engine's name of set peer remote of map cm, ""
// when the engine has no such peer (no key for it).
func (x *Negotiator) v1PeerName(cm *config.CompiledMap, remote netip.Addr) string {
	n := ikev1.PeerName(cm, remote)
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.v1Peers[n] {
		return ""
	}
	return n
}

// acquireV1 starts IKEv1 negotiation for a flow of static entry e (no
// IKEv2 profile), with the set peer a failover left it at.
func (x *Negotiator) acquireV1(cm *config.CompiledMap, e *config.CompiledEntry, line int, flow spd.Flow) {
	if x.V1 == nil {
		x.counters.AcquiresNotNegotiable.Add(1)
		x.warnOnce("acquire v1 "+e.Name(), "traffic for an IKEv1 entry: IKEv1 is not negotiated on this gateway", "entry", e.Name(), "flow", flow.String())
		return
	}
	var peer string
	for _, a := range x.setPeers(e) {
		if peer = x.v1PeerName(cm, a); peer != "" {
			break
		}
	}
	if peer == "" {
		x.counters.AcquiresNotNegotiable.Add(1)
		x.warnOnce("acquire v1 nopeer "+e.Name(), "cannot negotiate: no crypto isakmp key for the entry's peers", "entry", e.Name())
		return
	}
	x.log.Debug("acquire (IKEv1)", "entry", e.Name(), "line", line, "peer", peer, "flow", flow.String())
	x.V1.Acquire(ike.Acquire{Peer: peer, Child: e.Name(), Line: line, Flow: &flow})
}

// v1Child finds the IKEv1 CHILD_SA one of whose SAs (either direction, a
// bundled AH SA included) has SPI spi, and returns the inbound SPI the
// IKEv1 engine names it by.
func (x *Negotiator) v1Child(spi uint32) (uint32, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, rec := range x.children {
		if !rec.v1 {
			continue
		}
		for _, sa := range rec.sas() {
			if sa.SPI() == spi {
				return x.bySA[sa].spi, true
			}
		}
	}
	return 0, false
}

// IPsecSAs implements ISAKMP: the IPsec SAs IKEv1 negotiated (an AH+ESP
// bundle as two), without keys.
func (x *Negotiator) IPsecSAs() []ike.ChildSA {
	if x.V1 == nil {
		return nil
	}
	return x.V1.IPsecSAs()
}

// ISAKMPSAs implements ISAKMP: show crypto isakmp sa.
func (x *Negotiator) ISAKMPSAs() []control.ISAKMPSA {
	out := []control.ISAKMPSA{}
	if x.V1 == nil {
		return out
	}
	for _, sa := range x.V1.SAs() {
		out = append(out, control.ISAKMPSA{Dst: sa.Dst.Addr().String(), Src: sa.Src.Addr().String(), State: sa.State,
			ConnID: int(sa.ConnID % (1 << 32)), Status: strings.ToUpper(sa.Status)})
	}
	return out
}

var _ ISAKMP = (*Negotiator)(nil)
