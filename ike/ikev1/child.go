package ikev1

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/loop"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
)

// child is one negotiated IPsec SA: one ike.ChildSA per protocol (two
// for an AH+ESP bundle), with the same proxy IDs and lifetime, handed to
// the Installer as one IPsecSA.
type child struct {
	id              uint64
	peer            *PeerConfig
	cfg             *ChildConfig
	line            int
	remote          netip.Addr
	local, remoteTS ts.Selector
	ipsec           IPsecSA
	initiator       bool
	created         time.Time
	lifetime        ike.Lifetime
	softAfter       time.Duration

	rekeyTimer, expireTimer *loop.Timer
	rekeying                bool
	replaces, successor     *child
	inBytes, outBytes       uint64
}

func (c *child) String() string {
	sas := c.ipsec.SAs()
	parts := make([]string, len(sas))
	for i, s := range sas {
		parts[i] = fmt.Sprintf("%v in %08x out %08x %v", s.Protocol, s.InSPI, s.OutSPI, s.Transform)
	}
	return fmt.Sprintf("%s %v === %v", strings.Join(parts, " + "), c.local, c.remoteTS)
}

// installInbound files c and installs its inbound halves, all pairs of a
// bundle in one call.
func (e *Engine) installInbound(c *child) error {
	e.nextID++
	c.id = e.nextID
	e.children[c] = true
	for _, s := range c.ipsec.SAs() {
		e.spis[s.InSPI] = c
	}
	if err := e.cfg.Installer.InstallInbound(&c.ipsec); err != nil {
		e.forget(c)
		return fmt.Errorf("installing inbound SA %08x: %w", c.ipsec.Traffic().InSPI, err)
	}
	c.rekeyTimer = e.after(c.softAfter, func() { e.rekeyChild(c) })
	c.expireTimer = e.after(c.lifetime.Seconds, func() { e.deleteChild(c, ike.ReasonExpired) })
	return nil
}

// installOutbound moves traffic to c from old, the SA it replaces (nil if
// none), bundle and all.
func (e *Engine) installOutbound(c, old *child) error {
	var prev *IPsecSA
	if old != nil {
		prev = &old.ipsec
	}
	return e.cfg.Installer.InstallOutbound(&c.ipsec, prev)
}

// findPredecessor finds the SA a responder's new SA replaces: same entry
// and proxy IDs, not yet replaced.
func (e *Engine) findPredecessor(c *child) *child {
	for _, o := range e.sortedChildren() {
		if o != c && o.successor == nil && o.remote == c.remote && o.cfg.Name == c.cfg.Name && o.local == c.local && o.remoteTS == c.remoteTS {
			return o
		}
	}
	return nil
}

func (e *Engine) forget(c *child) {
	c.rekeyTimer.Stop()
	c.expireTimer.Stop()
	for _, s := range c.ipsec.SAs() {
		delete(e.spis, s.InSPI)
	}
	delete(e.children, c)
}

// removeChild uninstalls c without telling the peer.
func (e *Engine) removeChild(c *child, why ike.Reason) {
	if !e.children[c] {
		return
	}
	e.forget(c)
	e.cfg.Installer.RemoveIPsecSA(&c.ipsec, why)
	e.log.Info("IPsec SA removed", "peer", c.remote, "entry", c.cfg.Name, "reason", why.String(), "sas", c.String())
}

// deleteChild tells the peer and removes c.
func (e *Engine) deleteChild(c *child, why ike.Reason) {
	if !e.children[c] {
		return
	}
	e.sendDelete(c)
	e.removeChild(c, why)
}

// sendDelete sends Delete payloads for c's inbound SPIs over the peer's
// ISAKMP SA, if one is up.
func (e *Engine) sendDelete(c *child) {
	sa := e.established(c.remote)
	if sa == nil {
		return
	}
	for _, s := range c.ipsec.SAs() {
		proto := isakmp.ProtoESP
		if s.Protocol == message.ProtoAH {
			proto = isakmp.ProtoAH
		}
		sa.sendInfo(&isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: proto, SPISize: 4, SPIs: [][]byte{spiBytes(s.InSPI)}})
	}
}

// rekeyChild negotiates c's successor with the same entry and proxy IDs.
func (e *Engine) rekeyChild(c *child) {
	if !e.children[c] || c.rekeying || c.successor != nil {
		return
	}
	p := e.peers.byName[c.peer.Name]
	cfg := (*ChildConfig)(nil)
	if p != nil {
		cfg = p.child(c.cfg.Name)
	}
	if p == nil || cfg == nil {
		e.log.Info("not rekeying IPsec SA: its crypto map entry is gone", "entry", c.cfg.Name)
		return
	}
	if e.established(c.remote) == nil && (!p.Remote.IsSingleIP() || !p.Local.IsValid()) {
		return // a dynamic peer rekeys it
	}
	c.rekeying = true
	q := &quickMode{e: e, initiator: true, peer: p, cfg: cfg, line: c.line, rekey: c, local: c.local, remote: c.remoteTS}
	e.startQM(q)
}

func (e *Engine) hasChildren(remote netip.Addr) bool {
	for c := range e.children {
		if c.remote == remote {
			return true
		}
	}
	return false
}
