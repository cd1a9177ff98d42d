package ike

import (
	"fmt"
	"net/netip"

	"ipsecgw/ike/message"
)

// Acquire asks for the CHILD_SA of an acquire: over the peer's IKE SA if
// one is up (CREATE_CHILD_SA), else by setting one up (IKE_SA_INIT and
// IKE_AUTH). Repeated acquires for an SA already being negotiated are
// ignored. Failures come back through Installer.AcquireFailed.
func (e *Engine) Acquire(a Acquire) {
	e.post(func() { e.acquire(a) })
}

func (e *Engine) acquire(a Acquire) {
	fail := func(format string, args ...any) {
		err := fmt.Errorf(format, args...)
		e.log.Warn("cannot negotiate", "acquire", a.String(), "err", err)
		e.stats.inc(cChildFailed)
		e.failed(Failure{SA: FailureChild, Peer: a.Peer, Child: a.Child, Code: CodeFailed, Detail: err.Error()})
		e.cfg.Installer.AcquireFailed(a, err)
	}
	p := e.peer(a.Peer)
	if p == nil {
		fail("no peer %q configured", a.Peer)
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
	local, remote := tsForAcquire(c, line, a.Flow)
	e.acquiring[key] = true
	sa := e.findIKESA(p)
	t := newChildInitiator(sa, &a, key, p, c, line.Line, local, remote)
	if sa == nil {
		e.connect(p, t)
		return
	}
	t.setSA(sa)
	sa.queueExchange(message.CREATE_CHILD_SA, t)
}

// findIKESA returns the IKE SA to negotiate CHILD_SAs with p over: an
// established one, else one we are setting up.
func (e *Engine) findIKESA(p *PeerConfig) *ikeSA {
	var established, connecting *ikeSA
	older := func(a, b *ikeSA) bool { return b == nil || a.id < b.id }
	for sa := range e.byPeer[p.Name] {
		switch {
		case sa.remote.Addr() != p.Remote.Addr():
		case sa.state == ikeEstablished && older(sa, established):
			established = sa
		case sa.state == ikeConnecting && sa.initiator && older(sa, connecting):
			connecting = sa
		}
	}
	if established != nil {
		return established
	}
	return connecting
}

// connect starts an IKE SA with p whose IKE_AUTH carries first.
func (e *Engine) connect(p *PeerConfig, first *childCreateTask) *ikeSA {
	sa := e.newIKESA(true, p, netip.AddrPortFrom(p.Local, e.cfg.IKEPort), netip.AddrPortFrom(p.Remote.Addr(), e.cfg.IKEPort))
	sa.log.Info("initiating IKE SA", "peer", p.Name, "local", sa.local)
	sa.queueExchange(message.IKE_SA_INIT, newIKEInitInitiator(sa), &natdTask{taskBase: taskBase{sa}})
	first.setSA(sa)
	first.inAuth = true
	sa.queueExchange(message.IKE_AUTH, &ikeAuthTask{taskBase: taskBase{sa}}, first)
	return sa
}

// SoftExpire reports that the CHILD_SA with inbound SPI spi reached its
// soft kilobyte limit in the fast path: it is rekeyed.
func (e *Engine) SoftExpire(spi uint32) {
	e.post(func() {
		if c := e.spis[spi]; c != nil {
			e.rekeyChild(c)
		}
	})
}

// HardExpire reports that the CHILD_SA with inbound SPI spi reached its
// hard kilobyte limit: it is deleted. When its rekey is still unanswered,
// the request goes out again at once: the fast path has stopped using the
// SA, so traffic waits for the successor, and a lost request would
// otherwise wait for its retransmission timer (4 s by default).
func (e *Engine) HardExpire(spi uint32) {
	e.post(func() {
		c := e.spis[spi]
		if c == nil {
			return
		}
		if c.state == childRekeying && c.rekeyTask != nil {
			c.ike.resendNow(c.rekeyTask)
		}
		e.deleteChild(c, ReasonExpired)
	})
}

// Usage reports the byte counters of the CHILD_SA with inbound SPI spi
// (cumulative, inbound and outbound); growth counts as traffic for dead
// peer detection.
func (e *Engine) Usage(spi uint32, inBytes, outBytes uint64) {
	e.post(func() {
		c := e.spis[spi]
		if c == nil {
			return
		}
		now := e.clk.Now()
		if inBytes > c.inBytes {
			c.ike.lastIn = now
		}
		if outBytes > c.outBytes {
			c.ike.lastOut = now
		}
		c.inBytes, c.outBytes = inBytes, outBytes
	})
}

// DeleteChildSA deletes the CHILD_SA with inbound SPI spi with its peer
// (clear crypto sa spi).
func (e *Engine) DeleteChildSA(spi uint32) {
	e.post(func() {
		if c := e.spis[spi]; c != nil {
			e.deleteChild(c, ReasonCleared)
		}
	})
}

// ClearChildSAs deletes every CHILD_SA with the peer at addr, or all when
// addr is invalid (clear crypto sa [peer ADDR]). IKE SAs stay up; traffic
// re-triggers negotiation.
func (e *Engine) ClearChildSAs(addr netip.Addr) {
	e.post(func() {
		for _, sa := range e.sortedSAs() {
			if addr.IsValid() && sa.remote.Addr() != addr {
				continue
			}
			for _, c := range append([]*childSA(nil), sa.children...) {
				e.deleteChild(c, ReasonCleared)
			}
		}
	})
}

// ClearIKESAs deletes every IKE SA with the peer at addr, or all when addr
// is invalid, with their CHILD_SAs (clear crypto ikev2 sa).
func (e *Engine) ClearIKESAs(addr netip.Addr) {
	e.post(func() {
		for _, sa := range e.sortedSAs() {
			if !addr.IsValid() || sa.remote.Addr() == addr {
				sa.delete(ReasonCleared)
			}
		}
	})
}

// RekeyChildSA rekeys the CHILD_SA with inbound SPI spi now.
func (e *Engine) RekeyChildSA(spi uint32) {
	e.post(func() {
		if c := e.spis[spi]; c != nil {
			e.rekeyChild(c)
		}
	})
}

// RekeyIKESA rekeys the IKE SA with the given ID now.
func (e *Engine) RekeyIKESA(id uint64) {
	e.post(func() {
		for _, sa := range e.sas {
			if sa.id == id {
				sa.startRekey()
			}
		}
	})
}

// SAs returns a snapshot of every IKE SA and its CHILD_SAs, without keys,
// for show commands. Do not call it from Installer methods.
func (e *Engine) SAs() []IKESAInfo {
	var out []IKESAInfo
	e.sync(func() {
		for _, sa := range e.sortedSAs() {
			out = append(out, *sa.info())
		}
	})
	return out
}
