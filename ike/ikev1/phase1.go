package ikev1

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/loop"
)

// state is an ISAKMP SA's state, named as IOS's show crypto isakmp sa
// prints it.
type state uint8

const (
	stateMMNoState state = iota // initiator: message 1 sent
	stateMMSASetup              // policy agreed, KE next
	stateMMKeyExch              // keys derived, IDs and hashes next
	stateQMIdle                 // established
)

func (s state) String() string {
	switch s {
	case stateMMNoState:
		return "MM_NO_STATE"
	case stateMMSASetup:
		return "MM_SA_SETUP"
	case stateMMKeyExch:
		return "MM_KEY_EXCH"
	}
	return "QM_IDLE"
}

// Vendor IDs: RFC 3947 NAT-T (MD5 of "RFC 3947") and RFC 3706 DPD.
var (
	vidNATT = mustHex("4a131c81070358455c5728f20e95452f")
	vidDPD  = mustHex("afcad71368a1f1c96b8696fc77570100")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// isakmpSA is one ISAKMP (phase 1) SA and its exchanges.
type isakmpSA struct {
	e         *Engine
	id        uint64
	log       *slog.Logger
	peer      *PeerConfig
	initiator bool
	ckyI      uint64
	ckyR      uint64
	local     netip.AddrPort
	remote    netip.AddrPort
	state     state
	dead      bool
	policy    Policy
	saiB      []byte // body of the initiator's SA payload

	kex              *keymat.KeyExchange
	gxi, gxr, ni, nr []byte
	keys             *phase1Keys
	block            cipher.Block
	iv               []byte // main mode CBC chain
	p1Last           []byte // last CBC block of main mode: seeds exchange IVs

	peerNATT, peerDPD   bool
	natLocal, natRemote bool
	begun, established  time.Time
	halfOpen            *halfOpenKey

	lastIn  [32]byte // digest of the last main mode message received
	lastOut []byte   // our last main mode message
	flight  *retrans
	// undecryptable is set when message 5 or 6 did not decrypt: if main
	// mode then times out, the keys differed.
	undecryptable error
	failErr       error // why main mode failed, for the quick modes waiting

	qms     map[uint32]*quickMode
	waiting []*quickMode // acquires queued until phase 1 is up

	rekeyTimer, expireTimer, dpdTimer, kaTimer, setupTimer *loop.Timer
	dpdSeq                                                 uint32
	dpdTries                                               int
	lastHeard, lastSent                                    time.Time // from / to the peer, for DPD
	rekeying                                               bool
	rekeyOf                                                uint64
}

func (e *Engine) newSA(initiator bool, p *PeerConfig, local, remote netip.AddrPort) *isakmpSA {
	e.nextID++
	sa := &isakmpSA{e: e, id: e.nextID, peer: p, initiator: initiator, local: local, remote: remote,
		qms: map[uint32]*quickMode{}, begun: e.clk.Now(), lastHeard: e.clk.Now()}
	sa.log = e.log.With("isakmp_sa", sa.id, "peer", remote.Addr())
	// Main mode must finish within the retransmission schedule.
	var total time.Duration
	for n := 0; n <= e.cfg.Retransmit.Tries; n++ {
		total += e.retransmitDelay(n)
	}
	sa.setupTimer = e.after(total, func() {
		if sa.state != stateQMIdle {
			sa.fail(sa.mainModeTimeout(fmt.Sprintf("main mode did not complete in %v (stuck in %v)", total, sa.state)))
		}
	})
	return sa
}

// retrans resends a message on the retransmission schedule until stopped.
type retrans struct{ t *loop.Timer }

func (r *retrans) stop() {
	if r != nil {
		r.t.Stop()
	}
}

func (e *Engine) transmit(send func(), giveUp func()) *retrans {
	r := &retrans{}
	var step func(n int)
	step = func(n int) {
		r.t = e.after(e.retransmitDelay(n), func() {
			if n >= e.cfg.Retransmit.Tries {
				giveUp()
				return
			}
			e.stats.inc(cRetransmit)
			send()
			step(n + 1)
		})
	}
	send()
	step(0)
	return r
}

// connect starts main mode with p.
func (e *Engine) connect(p *PeerConfig) *isakmpSA {
	sa := e.newSA(true, p, netip.AddrPortFrom(p.Local, e.cfg.IKEPort), netip.AddrPortFrom(p.Remote.Addr(), e.cfg.IKEPort))
	sa.ckyI = e.newCookie()
	e.sas[sa.ckyI] = sa
	offer := phase1SA(p.policies())
	sa.saiB = isakmp.Body(offer)
	sa.log.Info("initiating main mode", "local", sa.local, "policies", len(p.policies()))
	sa.sendMain([]isakmp.Payload{offer, &isakmp.VendorID{Data: vidNATT}, &isakmp.VendorID{Data: vidDPD}}, true)
	return sa
}

// mainModeRequest handles message 1 from a new peer.
func (e *Engine) mainModeRequest(local, remote netip.AddrPort, m *isakmp.Message, raw []byte) {
	peers := e.peersFor(local.Addr(), remote.Addr())
	offer, _ := m.Find(isakmp.PayloadSA).(*isakmp.SA)
	if offer == nil {
		e.stats.inc(cDropUnexpected)
		return
	}
	var (
		peer *PeerConfig
		pol  Policy
		t    *isakmp.Transform
		err  = fmt.Errorf("no crypto isakmp key for %v", remote.Addr())
	)
	for _, p := range peers {
		if pol, t, err = selectPolicy(p.policies(), offer); err == nil {
			peer = p
			break
		}
	}
	if peer == nil {
		e.stats.inc(cDropNoConfig)
		e.stats.inc(cPhase1Failed)
		e.log.Warn("main mode from peer rejected", "remote", remote, "err", err)
		e.sendNotify(local, remote, m.ICookie, 0, isakmp.NoProposalChosen)
		var p *PeerConfig
		if len(peers) > 0 {
			p = peers[0]
		}
		e.failed(ike.FailureIKE, p, "", remote.Addr(), refused(isakmp.NoProposalChosen, false, err))
		return
	}
	sa := e.newSA(false, peer, local, remote)
	sa.ckyI, sa.ckyR = m.ICookie, e.newCookie()
	e.sas[sa.ckyR] = sa
	key := halfOpenKey{m.ICookie, remote}
	e.halfOpen[key] = sa
	sa.halfOpen = &key
	sa.saiB = m.Raw[indexOf(m, isakmp.PayloadSA)][4:]
	sa.policy = pol
	sa.lastIn = digest(raw)
	sa.readVIDs(m)
	sa.log.Info("main mode from peer", "policy", pol.String(), "config", peer.Name)
	resp := []isakmp.Payload{&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentityOnly,
		Proposals: []isakmp.Proposal{{Number: offer.Proposals[0].Number, Protocol: isakmp.ProtoISAKMP, Transforms: []isakmp.Transform{*t}}}}}
	if sa.peerNATT {
		resp = append(resp, &isakmp.VendorID{Data: vidNATT})
	}
	resp = append(resp, &isakmp.VendorID{Data: vidDPD})
	sa.state = stateMMSASetup
	sa.sendMain(resp, false)
}

func indexOf(m *isakmp.Message, t isakmp.PayloadType) int {
	for i, p := range m.Payloads {
		if p.Type() == t {
			return i
		}
	}
	return -1
}

func (sa *isakmpSA) readVIDs(m *isakmp.Message) {
	for _, p := range m.FindAll(isakmp.PayloadVendorID) {
		v := p.(*isakmp.VendorID).Data
		switch {
		case bytes.Equal(v, vidNATT):
			sa.peerNATT = true
		case bytes.Equal(v, vidDPD):
			sa.peerDPD = true
		}
	}
}

// sendMain sends a main mode message, encrypted once keys exist; an
// initiator's messages are retransmitted until answered, a responder's
// are resent when the peer repeats its message.
func (sa *isakmpSA) sendMain(ps []isakmp.Payload, retransmit bool) {
	h := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Next: isakmp.FirstType(ps), Exchange: isakmp.ExchangeMain}
	var msg []byte
	if sa.block != nil {
		h.Flags = isakmp.FlagEncryption
		ct := encrypt(sa.block, sa.iv, isakmp.EncodePayloads(nil, ps))
		sa.iv = lastBlock(ct, sa.block.BlockSize())
		msg = isakmp.Seal(&h, ct)
	} else {
		msg = isakmp.Seal(&h, isakmp.EncodePayloads(nil, ps))
	}
	sa.lastOut = msg
	sa.flight.stop()
	if !retransmit {
		sa.e.send(sa.local, sa.remote, msg)
		return
	}
	sa.flight = sa.e.transmit(func() { sa.e.send(sa.local, sa.remote, msg) }, func() {
		sa.fail(sa.mainModeTimeout(fmt.Sprintf("no answer in %v", sa.state)))
	})
}

func (sa *isakmpSA) receive(local, remote netip.AddrPort, m *isakmp.Message, raw []byte) {
	if sa.dead {
		return
	}
	switch m.Exchange {
	case isakmp.ExchangeMain:
		sa.mainMode(local, remote, m, raw)
	case isakmp.ExchangeQuick:
		sa.quick(m, raw)
	case isakmp.ExchangeInformational:
		sa.informational(m)
	default:
		sa.e.stats.inc(cDropUnexpected)
		sa.log.Debug("unsupported exchange", "exchange", m.Exchange)
	}
}

func (sa *isakmpSA) mainMode(local, remote netip.AddrPort, m *isakmp.Message, raw []byte) {
	e := sa.e
	d := digest(raw)
	if d == sa.lastIn {
		e.stats.inc(cDuplicate)
		if !sa.initiator && sa.lastOut != nil {
			e.send(sa.local, sa.remote, sa.lastOut)
		}
		return
	}
	// Messages 5 and 6 are encrypted, the others not; anything else is
	// dropped, not allowed to end the SA.
	if sa.state == stateQMIdle || m.Encrypted() != (sa.state == stateMMKeyExch) {
		e.stats.inc(cDropUnexpected)
		return
	}
	nextIV := sa.iv
	if m.Encrypted() {
		if sa.block == nil {
			e.stats.inc(cDropUnexpected)
			return
		}
		plain, err := decrypt(sa.block, sa.iv, m.Body)
		if err == nil {
			err = m.DecodePayloads(plain)
		}
		if err != nil {
			e.stats.inc(cDropDecrypt)
			sa.log.Warn("main mode message does not decrypt: wrong pre-shared key?", "err", err)
			sa.undecryptable = refused(isakmp.AuthenticationFailed, false, fmt.Errorf("the peer's main mode authentication message does not decrypt: the pre-shared keys differ"))
			return
		}
		nextIV = lastBlock(m.Body, sa.block.BlockSize())
	}
	var err error
	switch {
	case sa.initiator && sa.state == stateMMNoState:
		sa.lastIn = d
		err = sa.initiatorSA(m)
	case sa.initiator && sa.state == stateMMSASetup:
		sa.lastIn = d
		err = sa.initiatorKE(m)
	case sa.initiator && sa.state == stateMMKeyExch:
		if err = sa.checkAuth(m, nextIV); err == nil {
			sa.lastIn = d
			sa.flight.stop()
			sa.up()
		}
	case !sa.initiator && sa.state == stateMMSASetup:
		sa.lastIn = d
		err = sa.responderKE(m)
	case !sa.initiator && sa.state == stateMMKeyExch:
		if err = sa.checkAuth(m, nextIV); err == nil {
			sa.local, sa.remote = local, remote // floated to the NAT-T port
			sa.lastIn = d
			sa.sendMain(sa.authPayloads(false), false)
			sa.up()
		}
	}
	if err != nil {
		sa.fail(err)
	}
}

// initiatorSA processes message 2 and sends message 3.
func (sa *isakmpSA) initiatorSA(m *isakmp.Message) error {
	if n := m.Find(isakmp.PayloadNotification); n != nil {
		t := n.(*isakmp.Notification).NType
		return refused(t, true, fmt.Errorf("peer refused main mode: %v", t))
	}
	resp, _ := m.Find(isakmp.PayloadSA).(*isakmp.SA)
	if resp == nil || len(resp.Proposals) != 1 || len(resp.Proposals[0].Transforms) != 1 {
		return fmt.Errorf("message 2 without one chosen transform")
	}
	got, ok := parsePolicy(&resp.Proposals[0].Transforms[0])
	if !ok {
		return fmt.Errorf("peer chose an unsupported transform %v", resp.Proposals[0].Transforms[0])
	}
	found := false
	for _, p := range sa.peer.policies() {
		if sameSuite(p, got) {
			sa.policy, found = p, true
			if got.Lifetime > 0 && got.Lifetime < p.lifetime() {
				sa.policy.Lifetime = got.Lifetime
			}
			break
		}
	}
	if !found {
		return fmt.Errorf("peer chose %v, which we did not offer", got)
	}
	sa.ckyR = m.RCookie
	sa.readVIDs(m)
	if err := sa.newKE(); err != nil {
		return err
	}
	sa.gxi, sa.ni = sa.kex.Public(), randomBytes(32)
	sa.state = stateMMSASetup
	sa.sendMain(append([]isakmp.Payload{&isakmp.KE{Data: sa.gxi}, &isakmp.Nonce{Data: sa.ni}}, sa.natdPayloads()...), true)
	return nil
}

func (sa *isakmpSA) newKE() error {
	kex, err := keymat.NewKeyExchange(sa.policy.Group, nil)
	if err != nil {
		return fmt.Errorf("group %v: %w", sa.policy.Group, err)
	}
	sa.kex = kex
	return nil
}

// natd is RFC 3947's HASH(CKY-I | CKY-R | IP | Port).
func (sa *isakmpSA) natd(ap netip.AddrPort) []byte {
	var b [18]byte
	binary.BigEndian.PutUint64(b[:], sa.ckyI)
	binary.BigEndian.PutUint64(b[8:], sa.ckyR)
	binary.BigEndian.PutUint16(b[16:], ap.Port())
	return sa.policy.Hash.sum(b[:16], ap.Addr().AsSlice(), b[16:])
}

// natdPayloads are the NAT-D payloads of messages 3 and 4: the peer's
// address as we send to it, then ours.
func (sa *isakmpSA) natdPayloads() []isakmp.Payload {
	if !sa.peerNATT {
		return nil
	}
	return []isakmp.Payload{&isakmp.NATD{Data: sa.natd(sa.remote)}, &isakmp.NATD{Data: sa.natd(sa.local)}}
}

// readNATD compares the peer's NAT-D payloads with our view of both ends.
func (sa *isakmpSA) readNATD(m *isakmp.Message) {
	ds := m.FindAll(isakmp.PayloadNATD)
	if !sa.peerNATT || len(ds) < 2 {
		return
	}
	sa.natLocal = !bytes.Equal(ds[0].(*isakmp.NATD).Data, sa.natd(sa.local))
	sa.natRemote = true
	for _, d := range ds[1:] {
		if bytes.Equal(d.(*isakmp.NATD).Data, sa.natd(sa.remote)) {
			sa.natRemote = false
		}
	}
	if sa.natLocal || sa.natRemote {
		sa.log.Info("NAT detected, floating to the NAT-T port", "local_behind_nat", sa.natLocal, "peer_behind_nat", sa.natRemote)
	}
}

func (sa *isakmpSA) nat() bool { return sa.natLocal || sa.natRemote }

// readKE takes the peer's KE and nonce and derives the keys.
func (sa *isakmpSA) readKE(m *isakmp.Message) error {
	ke, _ := m.Find(isakmp.PayloadKE).(*isakmp.KE)
	nonce, _ := m.Find(isakmp.PayloadNonce).(*isakmp.Nonce)
	if ke == nil || nonce == nil {
		return fmt.Errorf("key exchange message without KE or nonce")
	}
	gxy, err := sa.kex.Shared(ke.Data)
	if err != nil {
		return err
	}
	if sa.initiator {
		sa.gxr, sa.nr = ke.Data, nonce.Data
	} else {
		sa.gxi, sa.ni = ke.Data, nonce.Data
	}
	c := sa.policy.cipher()
	sa.keys = derivePhase1(sa.policy.Hash, sa.peer.PSK, sa.ni, sa.nr, gxy, sa.ckyI, sa.ckyR, c.keyLen())
	if sa.block, err = c.block(sa.keys.encKey); err != nil {
		return err
	}
	sa.iv = phase1IV(sa.policy.Hash, sa.gxi, sa.gxr, c.blockLen())
	sa.readNATD(m)
	return nil
}

// initiatorKE processes message 4 and sends message 5, floating to the
// NAT-T port when a NAT is in the way.
func (sa *isakmpSA) initiatorKE(m *isakmp.Message) error {
	if err := sa.readKE(m); err != nil {
		return err
	}
	if sa.nat() {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.e.cfg.NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), sa.e.cfg.NATTPort)
	}
	sa.state = stateMMKeyExch
	ps := sa.authPayloads(true)
	if sa.e.established(sa.remote.Addr()) == nil && !sa.e.hasChildren(sa.remote.Addr()) {
		ps = append(ps, &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: sa.cookies(), NType: isakmp.InitialContact})
	}
	sa.sendMain(ps, true)
	return nil
}

// responderKE processes message 3 and sends message 4.
func (sa *isakmpSA) responderKE(m *isakmp.Message) error {
	if err := sa.newKE(); err != nil {
		return err
	}
	sa.gxr, sa.nr = sa.kex.Public(), randomBytes(32)
	// Message 4 goes in the clear: send it before the keys exist.
	resp := append([]isakmp.Payload{&isakmp.KE{Data: sa.gxr}, &isakmp.Nonce{Data: sa.nr}}, sa.natdPayloads()...)
	if m.Find(isakmp.PayloadKE) == nil || m.Find(isakmp.PayloadNonce) == nil {
		return fmt.Errorf("key exchange message without KE or nonce")
	}
	sa.sendMain(resp, false)
	sa.state = stateMMKeyExch
	return sa.readKE(m)
}

func (sa *isakmpSA) cookies() []byte {
	b := binary.BigEndian.AppendUint64(nil, sa.ckyI)
	return binary.BigEndian.AppendUint64(b, sa.ckyR)
}

// ownID is our phase-1 identity: our address.
func (sa *isakmpSA) ownID() *isakmp.ID {
	a := sa.local.Addr()
	if a.Is4() {
		return &isakmp.ID{IDType: isakmp.IDIPv4Addr, Data: a.AsSlice()}
	}
	return &isakmp.ID{IDType: isakmp.IDIPv6Addr, Data: a.AsSlice()}
}

// authHash is HASH_I (initiator) or HASH_R (RFC 2409 §5):
//
//	HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
//	HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
func (sa *isakmpSA) authHash(ofInitiator bool, idBody []byte) []byte {
	var ck [16]byte
	if ofInitiator {
		binary.BigEndian.PutUint64(ck[:], sa.ckyI)
		binary.BigEndian.PutUint64(ck[8:], sa.ckyR)
		return sa.policy.Hash.prf(sa.keys.skeyid, sa.gxi, sa.gxr, ck[:], sa.saiB, idBody)
	}
	binary.BigEndian.PutUint64(ck[:], sa.ckyR)
	binary.BigEndian.PutUint64(ck[8:], sa.ckyI)
	return sa.policy.Hash.prf(sa.keys.skeyid, sa.gxr, sa.gxi, ck[:], sa.saiB, idBody)
}

func (sa *isakmpSA) authPayloads(ofInitiator bool) []isakmp.Payload {
	id := sa.ownID()
	return []isakmp.Payload{id, &isakmp.Hash{Data: sa.authHash(ofInitiator, isakmp.Body(id))}}
}

// checkAuth verifies the peer's ID and hash (messages 5 and 6); nextIV
// continues the CBC chain once the message is accepted.
func (sa *isakmpSA) checkAuth(m *isakmp.Message, nextIV []byte) error {
	i := indexOf(m, isakmp.PayloadID)
	h, _ := m.Find(isakmp.PayloadHash).(*isakmp.Hash)
	if i < 0 || h == nil {
		sa.e.stats.inc(cDropUnexpected)
		return fmt.Errorf("authentication message without ID or HASH")
	}
	want := sa.authHash(!sa.initiator, m.Raw[i][4:])
	if !hmacEqual(want, h.Data) {
		sa.e.stats.inc(cDropHash)
		return refused(isakmp.AuthenticationFailed, false, fmt.Errorf("peer's hash does not verify: pre-shared keys differ"))
	}
	sa.iv = nextIV
	if m.Notify(isakmp.InitialContact) != nil {
		sa.e.initialContact(sa)
	}
	id := m.Payloads[i].(*isakmp.ID)
	sa.log.Debug("peer authenticated", "id_type", id.IDType)
	return nil
}

// up marks main mode complete: the last CBC block seeds the IVs of quick
// mode and informational exchanges.
func (sa *isakmpSA) up() {
	e := sa.e
	sa.p1Last = sa.iv
	sa.state = stateQMIdle
	sa.established = e.clk.Now()
	sa.setupTimer.Stop()
	if sa.halfOpen != nil {
		delete(e.halfOpen, *sa.halfOpen)
		sa.halfOpen = nil
	}
	e.stats.inc(cPhase1Up)
	// A phase-1 rekey: the old SA goes once the new one is up.
	var replaced []*isakmpSA
	for _, old := range e.sortedSAs() {
		if old != sa && old.rekeying && old.remote.Addr() == sa.remote.Addr() && old.state == stateQMIdle {
			sa.rekeyOf = old.id
			replaced = append(replaced, old)
		}
	}
	sa.log.Info("ISAKMP SA established", "policy", sa.policy.String(), "local", sa.local, "remote", sa.remote, "initiator", sa.initiator, "nat", sa.nat())
	e.cfg.Installer.IKESAUp(sa.info())
	for _, old := range replaced {
		old.deleteWithPeer(ike.ReasonRekeyed)
	}
	sa.startTimers()
	waiting := sa.waiting
	sa.waiting = nil
	for _, q := range waiting {
		q.start()
	}
}

func (sa *isakmpSA) startTimers() {
	e := sa.e
	life := sa.policy.lifetime()
	lo, hi := 0.10, 0.15
	if !sa.initiator {
		lo, hi = 0.05, 0.10
	}
	sa.rekeyTimer = e.after(jitter(life, lo, hi), sa.rekey)
	sa.expireTimer = e.after(life, func() { sa.deleteWithPeer(ike.ReasonExpired) })
	if d := sa.peer.DPD; d.Interval > 0 && sa.peerDPD {
		sa.dpdTimer = e.after(d.Interval, sa.dpdCheck)
	}
	if sa.natLocal {
		sa.keepalive()
	}
}

func (sa *isakmpSA) keepalive() {
	sa.kaTimer = sa.e.after(sa.e.cfg.NATKeepalive, func() {
		sa.e.cfg.Transport.Send(sa.local, sa.remote, []byte{0xff})
		sa.keepalive()
	})
}

// rekey replaces the ISAKMP SA before it expires while IPsec SAs with
// the peer still need it: a new main mode, then Delete for this one.
func (sa *isakmpSA) rekey() {
	e := sa.e
	if sa.dead || !e.hasChildren(sa.remote.Addr()) || e.connecting(sa.remote.Addr()) != nil {
		return
	}
	p := e.peers.byName[sa.peer.Name]
	if p == nil || !p.Remote.IsSingleIP() || !p.Local.IsValid() {
		return // a dynamic peer re-establishes it when it needs one
	}
	sa.rekeying = true
	sa.log.Info("rekeying ISAKMP SA")
	e.connect(p)
}

// fail ends an SA that could not be set up, recording why.
func (sa *isakmpSA) fail(err error) {
	if sa.dead {
		return
	}
	sa.e.stats.inc(cPhase1Failed)
	sa.log.Warn("ISAKMP SA failed", "state", sa.state.String(), "err", err)
	sa.e.failed(ike.FailureIKE, sa.peer, "", sa.remote.Addr(), err)
	sa.failErr = err
	sa.destroy(ike.ReasonFailed)
}

// deleteWithPeer tells the peer and destroys the SA.
func (sa *isakmpSA) deleteWithPeer(why ike.Reason) {
	if sa.dead {
		return
	}
	if sa.state == stateQMIdle {
		sa.sendInfo(&isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPISize: 16, SPIs: [][]byte{sa.cookies()}})
	}
	sa.destroy(why)
}

// destroy forgets the SA and fails what waited for it.
func (sa *isakmpSA) destroy(why ike.Reason) {
	if sa.dead {
		return
	}
	e := sa.e
	sa.dead = true
	for _, t := range []*loop.Timer{sa.rekeyTimer, sa.expireTimer, sa.dpdTimer, sa.kaTimer, sa.setupTimer} {
		t.Stop()
	}
	sa.flight.stop()
	for _, q := range sa.qms {
		q.abort(fmt.Errorf("ISAKMP SA gone: %v", why))
	}
	failed := fmt.Errorf("ISAKMP SA failed: %v", why)
	if sa.failErr != nil {
		failed = fmt.Errorf("ISAKMP SA failed: %w", sa.failErr)
	}
	for _, q := range sa.waiting {
		q.abort(failed)
	}
	sa.waiting = nil
	if sa.halfOpen != nil {
		delete(e.halfOpen, *sa.halfOpen)
	}
	own := sa.ckyI
	if !sa.initiator {
		own = sa.ckyR
	}
	if e.sas[own] == sa {
		delete(e.sas, own)
	}
	if sa.state == stateQMIdle {
		sa.log.Info("ISAKMP SA down", "reason", why.String())
		e.cfg.Installer.IKESADown(sa.info(), why)
	}
}

// initialContact: the peer restarted, so the SAs with it established
// before this ISAKMP SA began are stale (not those of a simultaneous
// negotiation of our own).
func (e *Engine) initialContact(sa *isakmpSA) {
	sa.log.Info("peer sent INITIAL-CONTACT: removing older SAs with it")
	for _, old := range e.sortedSAs() {
		if old != sa && old.remote.Addr() == sa.remote.Addr() && old.state == stateQMIdle && old.established.Before(sa.begun) {
			old.destroy(ike.ReasonReplaced)
		}
	}
	for _, c := range e.sortedChildren() {
		if c.remote == sa.remote.Addr() && c.created.Before(sa.begun) {
			e.removeChild(c, ike.ReasonReplaced)
		}
	}
}

// sendNotify answers a message we keep no state for with an unencrypted
// notification.
func (e *Engine) sendNotify(local, remote netip.AddrPort, ckyI, ckyR uint64, t isakmp.NotifyType) {
	n := &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, NType: t}
	h := isakmp.Header{ICookie: ckyI, RCookie: ckyR, Next: isakmp.PayloadNotification, Exchange: isakmp.ExchangeInformational}
	e.send(local, remote, isakmp.Seal(&h, isakmp.EncodePayloads(nil, []isakmp.Payload{n})))
}

// ISAKMPSAInfo describes an ISAKMP SA for show crypto isakmp sa.
type ISAKMPSAInfo struct {
	ConnID      uint64 // engine handle (ike.IKESAInfo.ID)
	Peer        string
	Dst, Src    netip.AddrPort // IOS prints dst (the peer) first
	State       string         // MM_NO_STATE, MM_SA_SETUP, MM_KEY_EXCH, QM_IDLE
	Status      string         // ACTIVE
	Initiator   bool
	Policy      Policy // the agreed suite (zero before MM_SA_SETUP)
	NAT         bool
	Established time.Time
	Lifetime    time.Duration
}

func (sa *isakmpSA) showInfo() ISAKMPSAInfo {
	return ISAKMPSAInfo{ConnID: sa.id, Peer: sa.peer.Name, Dst: sa.remote, Src: sa.local, State: sa.state.String(),
		Status: "ACTIVE", Initiator: sa.initiator, Policy: sa.policy, NAT: sa.nat(), Established: sa.established,
		Lifetime: sa.policy.lifetime()}
}

// info is the ike.IKESAInfo the Installer gets. Suite holds the cipher
// and group; IKEv1's hash maps onto the PRF and integrity of the same
// hash where IKEv2 has one (MD5 has no IKEv2 PRF).
func (sa *isakmpSA) info() *ike.IKESAInfo {
	s := keymat.IKESuite{Cipher: sa.policy.Cipher, KeyBits: sa.policy.KeyBits, DH: sa.policy.Group}
	switch sa.policy.Hash {
	case HashSHA1:
		s.PRF, s.Integ = keymat.PRFHMACSHA1, crypto.IntegHMACSHA1_96
	case HashSHA256:
		s.PRF, s.Integ = keymat.PRFHMACSHA256, crypto.IntegHMACSHA256_128
	case HashSHA384:
		s.PRF, s.Integ = keymat.PRFHMACSHA384, crypto.IntegHMACSHA384_192
	case HashSHA512:
		s.PRF, s.Integ = keymat.PRFHMACSHA512, crypto.IntegHMACSHA512_256
	case HashMD5:
		s.Integ = crypto.IntegHMACMD5_96
	}
	return &ike.IKESAInfo{ID: sa.id, Peer: sa.peer.Name, Local: sa.local, Remote: sa.remote, SPIi: sa.ckyI, SPIr: sa.ckyR,
		Initiator: sa.initiator, Suite: s, LocalID: sa.local.Addr().String(), RemoteID: sa.remote.Addr().String(),
		NATLocal: sa.natLocal, NATRemote: sa.natRemote, State: sa.state.String(), Established: sa.established, RekeyOf: sa.rekeyOf}
}
