package ikev1

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
)

// quickMode is one Quick Mode exchange (RFC 2409 §5.5):
//
//	initiator: HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr]  ─▶
//	responder: HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]  ◀─
//	initiator: HDR*, HASH(3)                                 ─▶
type quickMode struct {
	e         *Engine
	sa        *isakmpSA // the ISAKMP SA it runs (or waits) over
	mid       uint32
	initiator bool
	iv        []byte

	peer  *PeerConfig
	cfg   *ChildConfig
	line  int
	acq   *ike.Acquire // nil for rekeys and responders
	key   acquireKey
	rekey *child // the SA this one replaces

	sets          []TransformSet   // offered (initiator): the entry's, less AH ones across a NAT
	local, remote ts.Selector      // proxy IDs from our side
	idPayloads    []isakmp.Payload // IDci, IDcr as sent or received

	ni, nr        []byte
	kex           *keymat.KeyExchange
	gxy           []byte
	espSPI, ahSPI uint32 // ours, reserved
	params        phase2Params
	chosen        []phase2Transform

	lastIn  [32]byte
	lastOut []byte
	flight  *retrans
	result  *child
	done    bool
}

func (sa *isakmpSA) newMID() uint32 {
	for {
		mid := binary.BigEndian.Uint32(randomBytes(4))
		if mid != 0 && sa.qms[mid] == nil {
			return mid
		}
	}
}

// hashA is prf(SKEYID_a, parts...).
func (sa *isakmpSA) hashA(parts ...[]byte) []byte { return sa.policy.Hash.prf(sa.keys.a, parts...) }

func midBytes(mid uint32) []byte { return binary.BigEndian.AppendUint32(nil, mid) }

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }

// startQM runs q over the peer's ISAKMP SA, setting one up if needed.
func (e *Engine) startQM(q *quickMode) {
	remote := q.peer.Remote.Addr()
	if sa := e.established(remote); sa != nil {
		q.sa = sa
		q.start()
		return
	}
	sa := e.connecting(remote)
	if sa == nil {
		sa = e.connect(q.peer)
	}
	q.sa = sa
	sa.waiting = append(sa.waiting, q)
}

// start sends message 1.
func (q *quickMode) start() {
	sa, e := q.sa, q.e
	q.sets = q.cfg.TransformSets
	if sa.nat() {
		// AH authenticates the addresses a NAT rewrites, and RFC 3948
		// puts only ESP in UDP: sets with AH are not offered.
		q.sets = nil
		for _, t := range q.cfg.TransformSets {
			if t.AH == crypto.IntegNone {
				q.sets = append(q.sets, t)
			}
		}
		if len(q.sets) == 0 {
			q.abort(refused(isakmp.NoProposalChosen, false, fmt.Errorf("every transform set of %s uses AH, which cannot cross the NAT between %v and %v", q.cfg.Name, sa.local.Addr(), sa.remote.Addr())))
			return
		}
	}
	q.mid = sa.newMID()
	sa.qms[q.mid] = q
	q.iv = exchangeIV(sa.policy.Hash, sa.p1Last, q.mid)
	q.ni = randomBytes(32)
	for _, t := range q.sets {
		if t.ESP.Cipher != crypto.CipherNone && q.espSPI == 0 {
			q.espSPI = e.newSPI()
		}
		if t.AH != crypto.IntegNone && q.ahSPI == 0 {
			q.ahSPI = e.newSPI()
		}
	}
	q.params = phase2Params{mode: q.cfg.Mode, udp: sa.nat(), pfs: q.cfg.PFS, lifetime: q.cfg.lifetime()}
	ps := []isakmp.Payload{phase2SA(q.sets, q.params, q.espSPI, q.ahSPI), &isakmp.Nonce{Data: q.ni}}
	if q.params.pfs != 0 {
		kex, err := keymat.NewKeyExchange(q.params.pfs, nil)
		if err != nil {
			q.abort(err)
			return
		}
		q.kex = kex
		ps = append(ps, &isakmp.KE{Data: kex.Public()})
	}
	q.idPayloads = []isakmp.Payload{proxyID(q.local), proxyID(q.remote)}
	ps = append(ps, q.idPayloads...)
	sa.log.Info("quick mode", "entry", q.cfg.Name, "local", q.local.String(), "remote", q.remote.String(), "pfs", q.params.pfs.String(), "rekey", q.rekey != nil)
	q.send(ps, func(rest []byte) []byte { return sa.hashA(midBytes(q.mid), rest) }, true)
}

// send encrypts HASH and ps with the exchange's IV chain.
func (q *quickMode) send(ps []isakmp.Payload, hash func(rest []byte) []byte, retransmit bool) {
	sa, e := q.sa, q.e
	rest := isakmp.EncodePayloads(nil, ps)
	plain := isakmp.AppendPayload(nil, isakmp.FirstType(ps), &isakmp.Hash{Data: hash(rest)})
	plain = append(plain, rest...)
	h := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Next: isakmp.PayloadHash, Exchange: isakmp.ExchangeQuick,
		Flags: isakmp.FlagEncryption, MessageID: q.mid}
	ct := encrypt(sa.block, q.iv, plain)
	q.iv = lastBlock(ct, sa.block.BlockSize())
	msg := isakmp.Seal(&h, ct)
	q.lastOut = msg
	q.flight.stop()
	if !retransmit {
		e.send(sa.local, sa.remote, msg)
		return
	}
	q.flight = e.transmit(func() { e.send(sa.local, sa.remote, msg) }, func() {
		q.abort(timedOut(fmt.Errorf("quick mode: no answer from %v", sa.remote.Addr())))
	})
}

// quick handles a quick mode message.
func (sa *isakmpSA) quick(m *isakmp.Message, raw []byte) {
	e := sa.e
	if sa.state != stateQMIdle || m.MessageID == 0 || !m.Encrypted() {
		e.stats.inc(cDropUnexpected)
		return
	}
	d := digest(raw)
	q := sa.qms[m.MessageID]
	if q != nil && d == q.lastIn {
		e.stats.inc(cDuplicate)
		if q.lastOut != nil && (q.done || !q.initiator) {
			e.send(sa.local, sa.remote, q.lastOut)
		}
		return
	}
	iv := exchangeIV(sa.policy.Hash, sa.p1Last, m.MessageID)
	if q != nil {
		iv = q.iv
	}
	plain, err := decrypt(sa.block, iv, m.Body)
	if err == nil {
		err = m.DecodePayloads(plain)
	}
	if err != nil {
		e.stats.inc(cDropDecrypt)
		sa.log.Debug("quick mode message does not decrypt", "err", err)
		return
	}
	h, ok := firstHash(m)
	if !ok {
		e.stats.inc(cDropUnexpected)
		return
	}
	rest := joinRaw(m.Raw[1:])
	nextIV := lastBlock(m.Body, sa.block.BlockSize())
	switch {
	case q == nil:
		if !hmacEqual(h, sa.hashA(midBytes(m.MessageID), rest)) {
			e.stats.inc(cDropHash)
			sa.log.Warn("quick mode HASH(1) does not verify")
			return
		}
		sa.lastHeard = e.clk.Now()
		q = &quickMode{e: e, sa: sa, mid: m.MessageID, iv: nextIV, peer: sa.peer, lastIn: d}
		sa.qms[q.mid] = q
		q.respond(m)
	case q.done:
		e.stats.inc(cDropUnexpected)
	case q.initiator:
		if !hmacEqual(h, sa.hashA(midBytes(q.mid), q.ni, rest)) {
			e.stats.inc(cDropHash)
			sa.log.Warn("quick mode HASH(2) does not verify")
			return
		}
		q.iv, q.lastIn, sa.lastHeard = nextIV, d, e.clk.Now()
		if err := q.initiatorDone(m); err != nil {
			q.abort(err)
		}
	default:
		if !hmacEqual(h, sa.hashA([]byte{0}, midBytes(q.mid), q.ni, q.nr)) || len(m.Payloads) != 1 {
			e.stats.inc(cDropHash)
			sa.log.Warn("quick mode HASH(3) does not verify")
			return
		}
		q.iv, q.lastIn, sa.lastHeard = nextIV, d, e.clk.Now()
		q.flight.stop()
		q.finish()
		q.installOutbound()
	}
}

func firstHash(m *isakmp.Message) ([]byte, bool) {
	if len(m.Payloads) == 0 {
		return nil, false
	}
	h, ok := m.Payloads[0].(*isakmp.Hash)
	if !ok {
		return nil, false
	}
	return h.Data, true
}

func joinRaw(parts [][]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// respond processes message 1 and answers with message 2.
func (q *quickMode) respond(m *isakmp.Message) {
	sa, e := q.sa, q.e
	offer, _ := m.Find(isakmp.PayloadSA).(*isakmp.SA)
	nonce, _ := m.Find(isakmp.PayloadNonce).(*isakmp.Nonce)
	if offer == nil || nonce == nil {
		q.reject(isakmp.PayloadMalformed, fmt.Errorf("quick mode message 1 without SA or nonce"))
		return
	}
	q.ni = nonce.Data
	ids := m.FindAll(isakmp.PayloadID)
	switch len(ids) {
	case 0: // the peers' own addresses
		q.local, q.remote = ts.Host(sa.local.Addr(), 0, 0), ts.Host(sa.remote.Addr(), 0, 0)
	case 2:
		var err1, err2 error
		q.remote, err1 = selectorFromID(ids[0].(*isakmp.ID))
		q.local, err2 = selectorFromID(ids[1].(*isakmp.ID))
		if err1 != nil || err2 != nil {
			q.reject(isakmp.InvalidIDInformation, fmt.Errorf("bad proxy IDs: %v %v", err1, err2))
			return
		}
		q.idPayloads = ids
	default:
		q.reject(isakmp.InvalidIDInformation, fmt.Errorf("%d ID payloads, want 0 or 2", len(ids)))
		return
	}
	// The entry whose ACL holds the proxy IDs, as IOS picks it.
	var why []string
	for _, c := range sa.peer.Children {
		line, reason := matchProxies(c, q.local, q.remote)
		if line == nil && len(c.Lines) > 0 {
			why = append(why, fmt.Sprintf("%s: %s", c.Name, reason))
			continue
		}
		q.cfg = c
		if line != nil {
			q.line = line.Line
		}
		break
	}
	if q.cfg == nil {
		sa.log.Warn("quick mode proxy identities not supported: no permit line matches", "local", q.local.String(), "remote", q.remote.String(), "why", strings.Join(why, " || "))
		q.reject(isakmp.InvalidIDInformation, fmt.Errorf("no crypto ACL permits %v <=> %v", q.local, q.remote))
		return
	}
	ke, _ := m.Find(isakmp.PayloadKE).(*isakmp.KE)
	pfsOK := func(g keymat.Group) bool {
		if q.cfg.PFS != 0 {
			return g == q.cfg.PFS
		}
		return g == 0 || (g.Supported() && ke != nil)
	}
	var bundle []*isakmp.Proposal
	for _, b := range bundles(offer) {
		for _, t := range q.cfg.TransformSets {
			if chosen, p, ok := matchSet(t, b, phase2Params{mode: q.cfg.Mode}, pfsOK); ok {
				q.chosen, q.params, bundle = chosen, p, b
				break
			}
		}
		if bundle != nil {
			break
		}
	}
	if bundle == nil {
		sa.log.Warn("quick mode: no transform set of the entry matches the peer's proposals", "entry", q.cfg.Name, "pfs", q.cfg.PFS.String(), "mode", q.cfg.Mode.String())
		q.reject(isakmp.NoProposalChosen, fmt.Errorf("no proposal chosen for %s", q.cfg.Name))
		return
	}
	// ps[0] becomes the SA payload once SPIs are chosen below.
	q.nr = randomBytes(32)
	ps := []isakmp.Payload{nil, &isakmp.Nonce{Data: q.nr}}
	if q.params.pfs != 0 {
		if ke == nil {
			q.reject(isakmp.NoProposalChosen, fmt.Errorf("PFS group %v proposed without KE", q.params.pfs))
			return
		}
		kex, err := keymat.NewKeyExchange(q.params.pfs, nil)
		if err == nil {
			q.gxy, err = kex.Shared(ke.Data)
		}
		if err != nil {
			q.reject(isakmp.InvalidKeyInformation, err)
			return
		}
		ps = append(ps, &isakmp.KE{Data: kex.Public()})
	}
	ps = append(ps, q.idPayloads...)
	ours := q.cfg.lifetime()
	proposed := q.params.lifetime
	q.params.lifetime = minLifetime(ours, proposed)
	resp := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentityOnly}
	for _, t := range q.chosen {
		spi := e.newSPI()
		if t.proto == isakmp.ProtoESP {
			q.espSPI = spi
		} else {
			q.ahSPI = spi
		}
		resp.Proposals = append(resp.Proposals, isakmp.Proposal{Number: t.number, Protocol: t.proto, SPI: spiBytes(spi), Transforms: []isakmp.Transform{t.raw}})
		if (proposed.Seconds == 0 || ours.Seconds < proposed.Seconds) || (proposed.Kilobytes == 0 || ours.Kilobytes < proposed.Kilobytes) {
			ps = append(ps, &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: t.proto, SPI: spiBytes(spi),
				NType: isakmp.ResponderLifetime, Data: lifetimeAttrs(q.params.lifetime)})
		}
	}
	ps[0] = resp
	c, err := q.makeChild()
	if err == nil {
		err = e.installInbound(c)
	}
	if err != nil {
		q.reject(isakmp.NoProposalChosen, err)
		return
	}
	q.result = c
	q.send(ps, func(rest []byte) []byte { return sa.hashA(midBytes(q.mid), q.ni, rest) }, true)
}

// reject answers a quick mode request with an error notification.
func (q *quickMode) reject(t isakmp.NotifyType, err error) {
	q.sa.sendInfo(&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, NType: t})
	q.abort(refused(t, false, err))
}

// initiatorDone processes message 2, installs the SA and sends message 3.
func (q *quickMode) initiatorDone(m *isakmp.Message) error {
	sa := q.sa
	resp, _ := m.Find(isakmp.PayloadSA).(*isakmp.SA)
	nonce, _ := m.Find(isakmp.PayloadNonce).(*isakmp.Nonce)
	if resp == nil || nonce == nil {
		return fmt.Errorf("quick mode message 2 without SA or nonce")
	}
	q.nr = nonce.Data
	// IKEv1 has no narrowing: the responder echoes the proxy IDs.
	if ids := m.FindAll(isakmp.PayloadID); len(ids) > 0 {
		if len(ids) != 2 || !bytes.Equal(isakmp.Body(ids[0]), isakmp.Body(q.idPayloads[0])) || !bytes.Equal(isakmp.Body(ids[1]), isakmp.Body(q.idPayloads[1])) {
			return fmt.Errorf("peer answered with other proxy IDs than %v === %v", q.local, q.remote)
		}
	}
	bs := bundles(resp)
	if len(bs) != 1 || int(bs[0][0].Number) < 1 || int(bs[0][0].Number) > len(q.sets) {
		return fmt.Errorf("peer chose no single proposal we made")
	}
	set := q.sets[bs[0][0].Number-1]
	chosen, p, ok := matchSet(set, bs[0], phase2Params{mode: q.params.mode}, func(g keymat.Group) bool { return g == q.params.pfs })
	if !ok {
		return fmt.Errorf("peer's choice does not match transform set %s", set.Name)
	}
	q.chosen = chosen
	q.params.udp = p.udp
	if p.lifetime.Seconds > 0 || p.lifetime.Kilobytes > 0 {
		q.params.lifetime = minLifetime(q.params.lifetime, p.lifetime)
	}
	for _, n := range m.FindAll(isakmp.PayloadNotification) {
		n := n.(*isakmp.Notification)
		if n.NType != isakmp.ResponderLifetime {
			continue
		}
		if attrs, err := isakmp.ParseAttributes(n.Data); err == nil {
			l := parseLifetime(attrs)
			q.params.lifetime = minLifetime(q.params.lifetime, l)
			sa.log.Info("peer sent RESPONDER-LIFETIME", "seconds", int(l.Seconds.Seconds()), "kilobytes", l.Kilobytes)
		}
	}
	if q.params.pfs != 0 {
		ke, _ := m.Find(isakmp.PayloadKE).(*isakmp.KE)
		if ke == nil {
			return fmt.Errorf("PFS: message 2 without KE")
		}
		var err error
		if q.gxy, err = q.kex.Shared(ke.Data); err != nil {
			return err
		}
	}
	c, err := q.makeChild()
	if err != nil {
		return err
	}
	if err := q.e.installInbound(c); err != nil {
		return err
	}
	q.result = c
	q.send(nil, func([]byte) []byte { return sa.hashA([]byte{0}, midBytes(q.mid), q.ni, q.nr) }, false)
	q.finish()
	q.installOutbound()
	return nil
}

// finish ends the exchange; the message stays a while to answer
// retransmissions.
func (q *quickMode) finish() {
	e, sa := q.e, q.sa
	q.done = true
	if q.acq != nil {
		delete(e.acquiring, q.key)
	}
	e.stats.inc(cPhase2Up)
	var total time.Duration
	for n := 0; n <= e.cfg.Retransmit.Tries; n++ {
		total += e.retransmitDelay(n)
	}
	e.after(total, func() {
		if sa.qms[q.mid] == q {
			delete(sa.qms, q.mid)
		}
	})
}

// abort ends a failed exchange, recording why.
func (q *quickMode) abort(err error) {
	if q.done {
		return
	}
	e := q.e
	q.done = true
	q.flight.stop()
	if q.sa != nil && q.sa.qms[q.mid] == q {
		delete(q.sa.qms, q.mid)
	}
	if q.result != nil {
		e.removeChild(q.result, ike.ReasonFailed)
	}
	e.releaseSPI(q.espSPI)
	e.releaseSPI(q.ahSPI)
	e.stats.inc(cPhase2Failed)
	if q.rekey != nil {
		q.rekey.rekeying = false
	}
	name, entry := "?", "" // a responder may refuse before choosing an entry
	if q.cfg != nil {
		name, entry = q.cfg.Name, q.cfg.Name
	}
	e.log.Warn("quick mode failed", "entry", name, "initiator", q.initiator, "err", err)
	e.failed(ike.FailureChild, q.peer, entry, q.sa.remote.Addr(), err)
	if q.acq != nil {
		delete(e.acquiring, q.key)
		e.cfg.Installer.AcquireFailed(*q.acq, err)
	}
}

// makeChild computes the IPsec SAs' keys (RFC 2409 §5.5: per direction,
// with the receiving end's SPI; encryption key first, then integrity).
func (q *quickMode) makeChild() (*child, error) {
	sa, e := q.sa, q.e
	now := e.clk.Now()
	life := q.params.lifetime
	lo, hi := 0.10, 0.15
	if !q.initiator {
		lo, hi = 0.05, 0.10
	}
	c := &child{peer: q.peer, cfg: q.cfg, line: q.line, remote: sa.remote.Addr(), local: q.local, remoteTS: q.remote,
		initiator: q.initiator, created: now, lifetime: life, softAfter: jitter(life.Seconds, lo, hi)}
	if q.rekey != nil {
		c.replaces = q.rekey
	}
	for _, t := range q.chosen {
		inSPI, proto := q.espSPI, message.ProtoESP
		if t.proto == isakmp.ProtoAH {
			inSPI, proto = q.ahSPI, message.ProtoAH
		}
		encLen, intLen := t.transform.Cipher.KeyLen(t.transform.KeyBits), t.transform.Integ.KeyLen()
		in := deriveKeymat(sa.policy.Hash, sa.keys.d, q.gxy, t.proto, inSPI, q.ni, q.nr, encLen+intLen)
		out := deriveKeymat(sa.policy.Hash, sa.keys.d, q.gxy, t.proto, t.peerSPI, q.ni, q.nr, encLen+intLen)
		cs := &ike.ChildSA{Peer: q.peer.Name, Child: q.cfg.Name, Map: q.cfg.Map, Seq: q.cfg.Seq, Line: q.line,
			Local: sa.local.Addr(), Remote: sa.remote.Addr(), Encap: q.params.udp,
			Protocol: proto, Mode: q.params.mode, Transform: t.transform, PFS: q.params.pfs,
			InSPI: inSPI, OutSPI: t.peerSPI,
			InKeys:  ike.Keys{Encr: nilIfEmpty(in[:encLen]), Integ: nilIfEmpty(in[encLen:])},
			OutKeys: ike.Keys{Encr: nilIfEmpty(out[:encLen]), Integ: nilIfEmpty(out[encLen:])},
			LocalTS: []ts.Selector{q.local}, RemoteTS: []ts.Selector{q.remote},
			SoftSeconds: c.softAfter, HardSeconds: life.Seconds,
			SoftKilobytes: life.Kilobytes * 9 / 10, HardKilobytes: life.Kilobytes,
			Initiator: q.initiator, Created: now}
		if q.params.udp {
			cs.LocalPort, cs.RemotePort = sa.local.Port(), sa.remote.Port()
		}
		if proto == message.ProtoAH {
			c.ipsec.AH = cs
		} else {
			c.ipsec.ESP = cs
		}
	}
	if c.ipsec.ESP == nil && c.ipsec.AH == nil {
		return nil, fmt.Errorf("no protocol negotiated")
	}
	return c, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// installOutbound completes the make-before-break switch.
func (q *quickMode) installOutbound() {
	e := q.e
	c := q.result
	old := q.rekey
	if old == nil && !q.initiator {
		old = e.findPredecessor(c)
	}
	if err := e.installOutbound(c, old); err != nil {
		e.deleteChild(c, ike.ReasonInstallFailed)
		return
	}
	q.sa.log.Info("IPsec SA established", "entry", c.cfg.Name, "sas", c.String())
	if old != nil && q.initiator {
		// Initiator of a rekey: delete the old SA with the peer now, keep
		// decrypting on it for the grace period.
		old.successor = c
		e.sendDelete(old)
		e.after(e.cfg.RekeyGrace, func() { e.removeChild(old, ike.ReasonRekeyed) })
	} else if old != nil {
		old.successor = c
	}
}
