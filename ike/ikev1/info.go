package ikev1

import (
	"encoding/binary"
	"fmt"
	"time"

	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
)

// sendInfo sends one notification or delete in an informational exchange
// protected by the ISAKMP SA: HDR*, HASH(1), N/D with
// HASH(1) = prf(SKEYID_a, M-ID | N/D). Informational exchanges are not
// acknowledged and not retransmitted.
func (sa *isakmpSA) sendInfo(p isakmp.Payload) {
	if sa.p1Last == nil {
		return
	}
	mid := sa.newMID()
	rest := isakmp.EncodePayloads(nil, []isakmp.Payload{p})
	plain := isakmp.AppendPayload(nil, p.Type(), &isakmp.Hash{Data: sa.hashA(midBytes(mid), rest)})
	plain = append(plain, rest...)
	h := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Next: isakmp.PayloadHash, Exchange: isakmp.ExchangeInformational,
		Flags: isakmp.FlagEncryption, MessageID: mid}
	ct := encrypt(sa.block, exchangeIV(sa.policy.Hash, sa.p1Last, mid), plain)
	sa.e.send(sa.local, sa.remote, isakmp.Seal(&h, ct))
}

// informational handles an informational exchange.
func (sa *isakmpSA) informational(m *isakmp.Message) {
	e := sa.e
	if !m.Encrypted() {
		// Unauthenticated: only believed while main mode is in progress.
		if n, _ := m.Find(isakmp.PayloadNotification).(*isakmp.Notification); n != nil && n.NType.Error() && sa.state != stateQMIdle {
			sa.fail(refused(n.NType, true, fmt.Errorf("peer refused main mode: %v", n.NType)))
			return
		}
		e.stats.inc(cDropUnexpected)
		return
	}
	if sa.p1Last == nil {
		e.stats.inc(cDropUnexpected)
		return
	}
	plain, err := decrypt(sa.block, exchangeIV(sa.policy.Hash, sa.p1Last, m.MessageID), m.Body)
	if err == nil {
		err = m.DecodePayloads(plain)
	}
	if err != nil {
		e.stats.inc(cDropDecrypt)
		return
	}
	h, ok := firstHash(m)
	if !ok || !hmacEqual(h, sa.hashA(midBytes(m.MessageID), joinRaw(m.Raw[1:]))) {
		e.stats.inc(cDropHash)
		sa.log.Warn("informational message fails its hash")
		return
	}
	sa.lastHeard = e.clk.Now()
	for _, p := range m.Payloads[1:] {
		switch p := p.(type) {
		case *isakmp.Notification:
			sa.notification(p)
		case *isakmp.Delete:
			sa.deleted(p)
		}
	}
}

func (sa *isakmpSA) notification(n *isakmp.Notification) {
	switch n.NType {
	case isakmp.RUThere:
		sa.sendInfo(&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: sa.cookies(), NType: isakmp.RUThereAck, Data: n.Data})
	case isakmp.RUThereAck:
		if len(n.Data) == 4 && binary.BigEndian.Uint32(n.Data) == sa.dpdSeq {
			sa.dpdTries = 0
			sa.dpdTimer.Stop()
			sa.dpdTimer = sa.e.after(sa.peer.DPD.Interval, sa.dpdCheck)
		}
	default:
		if !n.NType.Error() {
			sa.log.Debug("notification", "type", n.NType.String())
			return
		}
		// An error answering one of our quick modes: the SPI, if any, is
		// one we proposed; else the oldest pending exchange failed.
		sa.log.Warn("peer sent an error notification", "type", n.NType.String())
		var pending *quickMode
		for _, q := range sa.qms {
			if !q.initiator || q.done {
				continue
			}
			if len(n.SPI) == 4 {
				spi := binary.BigEndian.Uint32(n.SPI)
				if spi == q.espSPI || spi == q.ahSPI {
					pending = q
					break
				}
			}
			if pending == nil || q.mid < pending.mid {
				pending = q
			}
		}
		if pending != nil {
			pending.abort(refused(n.NType, true, fmt.Errorf("peer refused quick mode: %v", n.NType)))
		}
	}
}

func (sa *isakmpSA) deleted(d *isakmp.Delete) {
	e := sa.e
	switch d.Protocol {
	case isakmp.ProtoISAKMP:
		for _, spi := range d.SPIs {
			if len(spi) == 16 && binary.BigEndian.Uint64(spi) == sa.ckyI && binary.BigEndian.Uint64(spi[8:]) == sa.ckyR {
				sa.log.Info("peer deleted the ISAKMP SA")
				sa.destroy(ike.ReasonDeletedByPeer)
			}
		}
	case isakmp.ProtoESP, isakmp.ProtoAH:
		for _, spi := range d.SPIs {
			if len(spi) != 4 {
				continue
			}
			// The sender names its inbound SPI (our outbound); strongSwan
			// names its outbound one for an SA it failed to install, so
			// ours match too.
			v := binary.BigEndian.Uint32(spi)
			for _, c := range e.sortedChildren() {
				if c.remote != sa.remote.Addr() || !c.hasSPI(v) {
					continue
				}
				why := ike.ReasonDeletedByPeer
				if c.successor != nil {
					why = ike.ReasonRekeyed
				}
				e.removeChild(c, why)
			}
		}
	}
}

func (c *child) hasSPI(spi uint32) bool {
	for _, s := range c.ipsec.SAs() {
		if s.OutSPI == spi || s.InSPI == spi {
			return true
		}
	}
	return false
}

// dpdCheck runs dead peer detection (RFC 3706): after Interval without
// hearing from the peer (authenticated IKE messages, or inbound IPsec
// bytes reported by Usage), R-U-THERE every Retry until it answers or
// Retries went unanswered. Periodic checks whenever the peer was quiet;
// on-demand (IOS's default) only when we sent traffic since we last heard
// from it.
func (sa *isakmpSA) dpdCheck() {
	e := sa.e
	d := sa.peer.DPD
	if sa.dead {
		return
	}
	if sa.dpdTries == 0 {
		idle := e.clk.Now().Sub(sa.lastHeard)
		if idle < d.Interval || (d.OnDemand && !sa.lastSent.After(sa.lastHeard)) {
			wait := d.Interval - idle
			if wait <= 0 {
				wait = d.Interval
			}
			sa.dpdTimer = e.after(wait, sa.dpdCheck)
			return
		}
		sa.dpdSeq++
	}
	retries, retry := d.Retries, d.Retry
	if retries == 0 {
		retries = 5
	}
	if retry == 0 {
		retry = 2 * time.Second
	}
	if sa.dpdTries > retries {
		e.peerDead(sa)
		return
	}
	sa.dpdTries++
	e.stats.inc(cDPDSent)
	sa.sendInfo(&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: sa.cookies(), NType: isakmp.RUThere,
		Data: binary.BigEndian.AppendUint32(nil, sa.dpdSeq)})
	sa.dpdTimer = e.after(retry, sa.dpdCheck)
}

// peerDead removes every SA with a peer that stopped answering.
func (e *Engine) peerDead(sa *isakmpSA) {
	sa.log.Warn("peer dead: no answer to dead peer detection", "tries", sa.dpdTries)
	remote := sa.remote.Addr()
	for _, c := range e.sortedChildren() {
		if c.remote == remote {
			e.removeChild(c, ike.ReasonPeerDead)
		}
	}
	for _, o := range e.sortedSAs() {
		if o.remote.Addr() == remote {
			o.destroy(ike.ReasonPeerDead)
		}
	}
}
