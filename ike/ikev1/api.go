package ikev1

import (
	"fmt"
	"net/netip"

	"ipsecgw/ike"
)

// Acquire asks for the IPsec SA of an acquire: quick mode over the peer's
// ISAKMP SA, main mode first if none is up. Repeated acquires for an SA
// being negotiated are ignored; failures come back through
// Installer.AcquireFailed.
func (e *Engine) Acquire(a ike.Acquire) {
	e.post(func() { e.acquire(a) })
}

func (e *Engine) acquire(a ike.Acquire) {
	p := e.peers.byName[a.Peer]
	fail := func(format string, args ...any) {
		err := fmt.Errorf(format, args...)
		e.log.Warn("cannot negotiate", "acquire", a.String(), "err", err)
		e.stats.inc(cPhase2Failed)
		var remote netip.Addr
		if p != nil && p.Remote.IsSingleIP() {
			remote = p.Remote.Addr()
		}
		e.failed(ike.FailureChild, p, a.Child, remote, err)
		e.cfg.Installer.AcquireFailed(a, err)
	}
	if p == nil {
		fail("no IKEv1 peer %q configured", a.Peer)
		return
	}
	c := p.child(a.Child)
	if c == nil {
		fail("peer %s has no crypto map entry %q", a.Peer, a.Child)
		return
	}
	line, ok := c.line(a.Line)
	if !ok {
		fail("%s has no permit line %d to negotiate", c.Name, a.Line)
		return
	}
	if !p.Remote.IsSingleIP() || !p.Local.IsValid() {
		fail("peer %s needs a single remote address and a local address to initiate", p.Name)
		return
	}
	key := acquireKey{peer: p.Name, child: c.Name, line: line.Line}
	if c.PerHost && a.Flow != nil {
		key.src, key.dst = a.Flow.Src, a.Flow.Dst
	}
	if e.acquiring[key] {
		return
	}
	e.acquiring[key] = true
	local, remote := proxiesFor(c, line, a.Flow)
	e.startQM(&quickMode{e: e, initiator: true, peer: p, cfg: c, line: line.Line, acq: &a, key: key, local: local, remote: remote})
}

func (e *Engine) childBySPI(spi uint32) *child { return e.spis[spi] }

// SoftExpire reports that the IPsec SA with inbound SPI spi (either pair's
// of a bundle) reached its soft kilobyte limit: it is rekeyed.
func (e *Engine) SoftExpire(spi uint32) {
	e.post(func() {
		if c := e.childBySPI(spi); c != nil {
			e.rekeyChild(c)
		}
	})
}

// HardExpire reports that the IPsec SA with inbound SPI spi (either pair's
// of a bundle) reached its hard kilobyte limit: it is deleted, bundle and
// all.
func (e *Engine) HardExpire(spi uint32) {
	e.post(func() {
		if c := e.childBySPI(spi); c != nil {
			e.deleteChild(c, ike.ReasonExpired)
		}
	})
}

// Usage reports the byte counters of the IPsec SA with inbound SPI spi
// (cumulative): inbound growth counts as life from the peer, outbound
// growth as traffic that on-demand dead peer detection checks for.
func (e *Engine) Usage(spi uint32, inBytes, outBytes uint64) {
	e.post(func() {
		c := e.childBySPI(spi)
		if c == nil {
			return
		}
		if sa := e.established(c.remote); sa != nil {
			if inBytes > c.inBytes {
				sa.lastHeard = e.clk.Now()
			}
			if outBytes > c.outBytes {
				sa.lastSent = e.clk.Now()
			}
		}
		c.inBytes, c.outBytes = inBytes, outBytes
	})
}

// DeleteChildSA deletes the IPsec SA (bundle) with inbound SPI spi with
// its peer (clear crypto sa spi).
func (e *Engine) DeleteChildSA(spi uint32) {
	e.post(func() {
		if c := e.childBySPI(spi); c != nil {
			e.deleteChild(c, ike.ReasonCleared)
		}
	})
}

// RekeyChildSA rekeys the IPsec SA with inbound SPI spi now.
func (e *Engine) RekeyChildSA(spi uint32) {
	e.post(func() {
		if c := e.childBySPI(spi); c != nil {
			e.rekeyChild(c)
		}
	})
}

// ClearChildSAs deletes every IPsec SA with the peer at addr, or all when
// addr is invalid (clear crypto sa [peer ADDR]).
func (e *Engine) ClearChildSAs(addr netip.Addr) {
	e.post(func() {
		for _, c := range e.sortedChildren() {
			if !addr.IsValid() || c.remote == addr {
				e.deleteChild(c, ike.ReasonCleared)
			}
		}
	})
}

// ClearISAKMPSAs deletes every ISAKMP SA with the peer at addr, or all
// when addr is invalid (clear crypto isakmp). IPsec SAs stay, as on IOS;
// strongSwan, however, destroys its IPsec SAs with the ISAKMP SA (seen
// with 5.9.8), so with such peers clear the IPsec SAs first
// (ClearChildSAs, as clear crypto session does).
func (e *Engine) ClearISAKMPSAs(addr netip.Addr) {
	e.post(func() {
		for _, sa := range e.sortedSAs() {
			if !addr.IsValid() || sa.remote.Addr() == addr {
				sa.deleteWithPeer(ike.ReasonCleared)
			}
		}
	})
}

// RekeyISAKMPSA replaces the ISAKMP SA with the given connection ID now.
func (e *Engine) RekeyISAKMPSA(id uint64) {
	e.post(func() {
		for _, sa := range e.sortedSAs() {
			if sa.id == id && sa.state == stateQMIdle {
				sa.rekey()
			}
		}
	})
}

// SAs returns every ISAKMP SA, in the order IOS lists them (by conn-id),
// for show crypto isakmp sa.
func (e *Engine) SAs() []ISAKMPSAInfo {
	var out []ISAKMPSAInfo
	e.sync(func() {
		for _, sa := range e.sortedSAs() {
			out = append(out, sa.showInfo())
		}
	})
	return out
}

// IPsecSAs returns every IPsec SA without keys, for show crypto ipsec sa.
func (e *Engine) IPsecSAs() []ike.ChildSA {
	var out []ike.ChildSA
	e.sync(func() {
		for _, c := range e.sortedChildren() {
			for _, s := range c.ipsec.SAs() {
				cp := *s
				cp.InKeys, cp.OutKeys = ike.Keys{}, ike.Keys{}
				out = append(out, cp)
			}
		}
	})
	return out
}
