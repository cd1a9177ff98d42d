package ike

import (
	"fmt"
	mrand "math/rand/v2"
	"time"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/loop"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
)

// childState is where a CHILD_SA is in its life.
type childState uint8

const (
	childInbound   childState = iota // inbound installed; outbound waits for the peer's delete of its predecessor
	childInstalled                   // both halves installed
	childRekeying                    // our rekey of it is under way
	childRekeyed                     // outbound moved to the successor; being deleted
	childDeleting                    // our Delete is out
	childDead
)

// childSA is the engine's record of one CHILD_SA pair.
type childSA struct {
	ike   *ikeSA
	pub   *ChildSA
	peer  *PeerConfig
	cfg   *ChildConfig
	state childState

	inInstalled bool
	ni, nr      []byte // nonces of the exchange that made it (rekey collisions)

	rekeyTask    *childCreateTask // our rekey in flight or queued
	successor    *childSA         // made by the peer's rekey of this SA
	deleteReason Reason

	inBytes, outBytes uint64
	timers            [numChildTimers]*loop.Timer
}

// CHILD_SA timers.
const (
	ctRekey = iota
	ctHard
	ctWait
	ctRemove
	numChildTimers
)

// childParams is what a negotiation settled.
type childParams struct {
	sa            *ikeSA
	peer          *PeerConfig
	cfg           *ChildConfig
	line          int
	sel           childSel
	inSPI, outSPI uint32
	keys          *keymat.ChildKeys
	weInitiated   bool // we sent the request of the exchange
	local, remote []ts.Selector
	mode          Mode
	ni, nr        []byte
}

// newChild records a negotiated CHILD_SA, not yet installed.
func (e *Engine) newChild(p childParams) *childSA {
	lt := p.cfg.lifetime()
	sa := p.sa
	pub := &ChildSA{
		Peer: p.peer.Name, Child: p.cfg.Name, Map: p.cfg.Map, Seq: p.cfg.Seq, Line: p.line,
		Local: sa.local.Addr(), Remote: sa.remote.Addr(),
		Protocol: p.sel.Protocol, Mode: p.mode, Transform: p.sel.Transform, ESN: p.sel.ESN, PFS: p.sel.DH,
		InSPI: p.inSPI, OutSPI: p.outSPI,
		LocalTS: p.local, RemoteTS: p.remote,
		HardSeconds: lt.Seconds, SoftSeconds: softLifetime(lt.Seconds, p.weInitiated),
		HardKilobytes: lt.Kilobytes, SoftKilobytes: lt.Kilobytes * uint64(85+mrand.IntN(6)) / 100,
		Initiator: p.weInitiated, Created: e.clk.Now(),
	}
	if sa.encap() {
		pub.Encap, pub.LocalPort, pub.RemotePort = true, sa.local.Port(), sa.remote.Port()
	}
	k := p.keys
	i2r, r2i := Keys{Encr: k.EncrI, Integ: k.IntegI}, Keys{Encr: k.EncrR, Integ: k.IntegR}
	if p.weInitiated {
		pub.OutKeys, pub.InKeys = i2r, r2i
	} else {
		pub.OutKeys, pub.InKeys = r2i, i2r
	}
	c := &childSA{ike: sa, pub: pub, peer: p.peer, cfg: p.cfg, state: childInbound, ni: p.ni, nr: p.nr}
	e.spis[p.inSPI] = c
	sa.children = append(sa.children, c)
	e.warnLegacy(p.sel.DH, "PFS")
	return c
}

// softLifetime is when an SA is rekeyed: at 85-90% of its lifetime by the
// end that created it, 90-95% by the other, so the two ends rarely rekey
// at once (collisions are handled, but cost an extra exchange), and a
// random part spreads the rekeys of many SAs made together.
func softLifetime(hard time.Duration, initiator bool) time.Duration {
	if initiator {
		return jitter(hard*90/100, 0.05)
	}
	return jitter(hard*95/100, 0.05)
}

// installInbound installs the inbound half.
func (e *Engine) installInbound(c *childSA) error {
	if err := e.cfg.Installer.InstallInbound(c.pub); err != nil {
		c.ike.log.Error("installing inbound CHILD_SA failed", "child", c.pub.Child, "spi_in", spiHex(c.pub.InSPI), "err", err)
		return err
	}
	c.inInstalled = true
	return nil
}

// activate installs the outbound half (moving traffic from replaces, if
// any) and starts the lifetime timers.
func (e *Engine) activate(c, replaces *childSA) {
	var old *ChildSA
	if replaces != nil {
		old = replaces.pub
	}
	if err := e.cfg.Installer.InstallOutbound(c.pub, old); err != nil {
		c.ike.log.Error("installing outbound CHILD_SA failed", "child", c.pub.Child, "spi_out", spiHex(c.pub.OutSPI), "err", err)
		e.deleteChild(c, ReasonInstallFailed)
		return
	}
	c.state = childInstalled
	e.stats.inc(cChildUp)
	if replaces != nil {
		e.stats.inc(cChildRekeyed)
	}
	c.ike.log.Info("CHILD_SA installed", "child", c.pub.Child, "line", c.pub.Line, "spi_in", spiHex(c.pub.InSPI), "spi_out", spiHex(c.pub.OutSPI),
		"proto", c.pub.Protocol.String(), "mode", c.pub.Mode.String(), "transform", c.pub.Transform.String(), "esn", c.pub.ESN,
		"pfs", c.pub.PFS.String(), "encap", c.pub.Encap, "local_ts", ts.List(c.pub.LocalTS), "remote_ts", ts.List(c.pub.RemoteTS),
		"replaces", replacesSPI(replaces))
	e.startLifetime(c)
}

func replacesSPI(c *childSA) string {
	if c == nil {
		return ""
	}
	return spiHex(c.pub.InSPI)
}

// startLifetime arms the rekey and hard expiry timers, counted from the
// SA's creation.
func (e *Engine) startLifetime(c *childSA) {
	age := e.clk.Now().Sub(c.pub.Created)
	c.timers[ctRekey].Stop()
	c.timers[ctRekey] = e.after(max(c.pub.SoftSeconds-age, 0), func() { e.rekeyChild(c) })
	if c.timers[ctHard] == nil {
		c.timers[ctHard] = e.after(max(c.pub.HardSeconds-age, 0), func() {
			if c.state == childDead {
				return
			}
			c.ike.log.Info("CHILD_SA hard lifetime reached", "spi_in", spiHex(c.pub.InSPI))
			e.deleteChild(c, ReasonExpired)
		})
	}
}

// rekeyChild starts our rekey of c (RFC 7296 §1.3.3).
func (e *Engine) rekeyChild(c *childSA) {
	if c.state != childInstalled || c.successor != nil {
		return
	}
	if c.ike.state != ikeEstablished {
		// The IKE SA is itself being rekeyed or deleted: try again soon.
		c.timers[ctRekey] = e.after(time.Second+time.Duration(mrand.IntN(1000))*time.Millisecond, func() { e.rekeyChild(c) })
		return
	}
	c.state = childRekeying
	t := newChildRekeyInitiator(c)
	c.rekeyTask = t
	c.ike.log.Info("rekeying CHILD_SA", "child", c.pub.Child, "spi_in", spiHex(c.pub.InSPI))
	c.ike.queueExchange(message.CREATE_CHILD_SA, t)
}

// deleteChild deletes c with the peer, then removes it.
func (e *Engine) deleteChild(c *childSA, reason Reason) {
	switch {
	case c.state == childDeleting || c.state == childDead:
		return
	case c.ike.state != ikeEstablished && c.ike.state != ikeRekeyed:
		e.removeChild(c, reason)
		return
	}
	c.state = childDeleting
	c.deleteReason = reason
	c.ike.queueExchange(message.INFORMATIONAL, &childDeleteTask{taskBase: taskBase{c.ike}, children: []*childSA{c}})
}

// removeChild removes c from the fast path and the engine.
func (e *Engine) removeChild(c *childSA, reason Reason) {
	if c.state == childDead {
		return
	}
	c.state = childDead
	for _, t := range c.timers {
		t.Stop()
	}
	if c.rekeyTask != nil {
		c.rekeyTask = nil
	}
	if c.inInstalled {
		c.ike.log.Info("CHILD_SA removed", "child", c.pub.Child, "spi_in", spiHex(c.pub.InSPI), "spi_out", spiHex(c.pub.OutSPI), "reason", reason.String())
		e.cfg.Installer.RemoveChildSA(c.pub, reason)
	}
	if e.spis[c.pub.InSPI] == c {
		delete(e.spis, c.pub.InSPI)
	}
	kids := c.ike.children
	for i, o := range kids {
		if o == c {
			c.ike.children = append(kids[:i], kids[i+1:]...)
			break
		}
	}
}

// removeChildLater removes an SA replaced by a rekey after RekeyGrace, so
// packets already in flight on it still decrypt.
func (e *Engine) removeChildLater(c *childSA, reason Reason) {
	c.state = childRekeyed
	c.timers[ctRemove] = e.after(e.cfg.RekeyGrace, func() { e.removeChild(c, reason) })
}

// findChildOut finds a CHILD_SA of sa by its outbound SPI (the SPI the
// peer names in REKEY_SA and Delete).
func (sa *ikeSA) findChildOut(proto message.ProtocolID, spi uint32) *childSA {
	for _, c := range sa.children {
		if c.pub.Protocol == proto && c.pub.OutSPI == spi {
			return c
		}
	}
	return nil
}

func spiHex(spi uint32) string { return fmt.Sprintf("%08x", spi) }
