package ike

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
)

// nonceLen is the nonce size we send: at least half the largest PRF key
// (RFC 7296 §2.10).
const nonceLen = 32

// ikeInitTask negotiates the IKE SA's algorithms, DH values and nonces
// (IKE_SA_INIT), and derives SKEYSEED; it also answers the responder's
// cookie and INVALID_KE_PAYLOAD requests by retrying.
type ikeInitTask struct {
	taskBase
	group   keymat.Group
	ke      *keymat.KeyExchange
	nonce   []byte
	cookie  []byte
	offer   []message.Proposal
	retries int

	// responder
	chosen    message.Proposal
	notify    message.NotifyType
	notifyArg []byte
	peerFrag  bool
}

func (t *ikeInitTask) String() string { return "ike_init" }

func newIKEInitInitiator(sa *ikeSA) *ikeInitTask {
	return &ikeInitTask{taskBase: taskBase{sa}, group: sa.peer.proposals()[0].Groups[0]}
}

func newIKEInitResponder(sa *ikeSA) *ikeInitTask { return &ikeInitTask{taskBase: taskBase{sa}} }

func (t *ikeInitTask) build(m *message.Message) error {
	sa := t.sa
	if !sa.initiator {
		return t.buildResponse(m)
	}
	if t.ke == nil || t.ke.Group() != t.group {
		ke, err := keymat.NewKeyExchange(t.group, nil)
		if err != nil {
			return err
		}
		t.ke = ke
	}
	if t.nonce == nil {
		t.nonce = randomBytes(nonceLen)
	}
	t.offer = ikeOffer(sa.peer.proposals(), nil)
	if t.cookie != nil {
		m.Payloads = append(m.Payloads, &message.Notify{NType: message.COOKIE, Data: t.cookie})
	}
	m.Payloads = append(m.Payloads,
		&message.SA{Proposals: t.offer},
		&message.KE{Group: uint16(t.group), Data: t.ke.Public()},
		&message.Nonce{Data: t.nonce},
		&message.Notify{NType: message.IKEV2_FRAGMENTATION_SUPPORTED},
	)
	sa.ni = t.nonce
	return nil
}

func (t *ikeInitTask) process(m *message.Message) error {
	sa := t.sa
	if !sa.initiator {
		return t.processRequest(m)
	}
	if m.ErrorNotify() != nil || m.Notify(message.COOKIE) != nil {
		sa.spiR = 0 // no IKE SA at the responder: the retry starts afresh
	}
	if n := m.Notify(message.COOKIE); n != nil {
		if t.retries++; t.retries > 3 || len(n.Data) < 1 || len(n.Data) > 64 {
			return fatal(ReasonFailed, "responder keeps asking for cookies")
		}
		sa.log.Debug("responder asks for a cookie, retrying")
		t.cookie = n.Data
		return errRetry
	}
	if n := m.Notify(message.INVALID_KE_PAYLOAD); n != nil {
		if len(n.Data) != 2 {
			return fatal(ReasonFailed, "malformed INVALID_KE_PAYLOAD")
		}
		g := keymat.Group(binary.BigEndian.Uint16(n.Data))
		if t.retries++; t.retries > 3 || g == t.group || !anyOffers(t.offer, message.TransformDH, uint16(g)) {
			return fatal(ReasonFailed, "responder wants DH group %v, which we do not offer", g)
		}
		sa.log.Info("responder asks for another DH group, retrying", "group", g.String())
		t.group = g
		return errRetry
	}
	if n := m.ErrorNotify(); n != nil {
		return fatal(ReasonFailed, "responder refused IKE_SA_INIT: %v", n.NType)
	}
	saP, _ := m.Find(message.PayloadSA).(*message.SA)
	ke, _ := m.Find(message.PayloadKE).(*message.KE)
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if saP == nil || ke == nil || nonce == nil {
		return fatal(ReasonFailed, "IKE_SA_INIT response lacks SA, KE or nonce")
	}
	c, err := chosenProposal(t.offer, saP)
	if err != nil {
		return fatal(ReasonFailed, "IKE_SA_INIT: %v", err)
	}
	suite, err := ikeSuiteOf(c)
	if err != nil {
		return fatal(ReasonFailed, "IKE_SA_INIT: %v", err)
	}
	if suite.DH != t.group || keymat.Group(ke.Group) != t.group {
		return fatal(ReasonFailed, "responder chose DH group %v/KE %d, we sent %v", suite.DH, ke.Group, t.group)
	}
	shared, err := t.ke.Shared(ke.Data)
	if err != nil {
		return fatal(ReasonFailed, "responder's KE: %v", err)
	}
	sa.nr = nonce.Data
	keys, err := keymat.DeriveIKE(suite, keymat.SKEYSEED(suite.PRF, sa.ni, sa.nr, shared), sa.ni, sa.nr, sa.spiI, sa.spiR, true)
	if err != nil {
		return fatal(ReasonFailed, "deriving keys: %v", err)
	}
	sa.suite, sa.keys = suite, keys
	sa.initResp = m.Raw()
	sa.fragOK = m.Notify(message.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	sa.e.warnLegacy(suite.DH, "IKE SA")
	sa.log.Debug("IKE_SA_INIT done", "suite", suite.String(), "fragmentation", sa.fragOK)
	return nil
}

func anyOffers(ps []message.Proposal, typ message.TransformType, id uint16) bool {
	for i := range ps {
		if offers(&ps[i], typ, id, 0) {
			return true
		}
	}
	return false
}

func (t *ikeInitTask) processRequest(m *message.Message) error {
	sa := t.sa
	saP, _ := m.Find(message.PayloadSA).(*message.SA)
	ke, _ := m.Find(message.PayloadKE).(*message.KE)
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if saP == nil || ke == nil || nonce == nil {
		t.notify = message.INVALID_SYNTAX
		return fatal(ReasonFailed, "IKE_SA_INIT request lacks SA, KE or nonce")
	}
	props := sa.candidates[0].proposals()
	chosen, suite, ok := selectIKE(props, saP.Proposals, keymat.Group(ke.Group))
	if !ok {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return fatal(ReasonFailed, "no acceptable IKE proposal (peer %s, ours from %s): offered %s",
			sa.remote, sa.candidates[0].Name, proposalsString(saP.Proposals))
	}
	if keymat.Group(ke.Group) != suite.DH {
		t.notify = message.INVALID_KE_PAYLOAD
		t.notifyArg = binary.BigEndian.AppendUint16(nil, uint16(suite.DH))
		return fatal(ReasonFailed, "peer sent KE for group %d, asking for %v", ke.Group, suite.DH)
	}
	mine, err := keymat.NewKeyExchange(suite.DH, nil)
	if err != nil {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return fatal(ReasonFailed, "DH: %v", err)
	}
	shared, err := mine.Shared(ke.Data)
	if err != nil {
		t.notify = message.INVALID_SYNTAX
		return fatal(ReasonFailed, "peer's KE: %v", err)
	}
	t.ke, t.chosen = mine, chosen
	sa.ni, sa.nr = nonce.Data, randomBytes(nonceLen)
	keys, err := keymat.DeriveIKE(suite, keymat.SKEYSEED(suite.PRF, sa.ni, sa.nr, shared), sa.ni, sa.nr, sa.spiI, sa.spiR, false)
	if err != nil {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return fatal(ReasonFailed, "deriving keys: %v", err)
	}
	sa.suite, sa.keys = suite, keys
	sa.initReq = m.Raw()
	t.peerFrag = m.Notify(message.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	sa.e.warnLegacy(suite.DH, "IKE SA")
	return nil
}

func (t *ikeInitTask) buildResponse(m *message.Message) error {
	if t.notify != 0 {
		m.SPIr = 0 // no IKE SA results (RFC 7296 §2.6)
		m.Payloads = append(m.Payloads, &message.Notify{NType: t.notify, Data: t.notifyArg})
		return nil
	}
	m.Payloads = append(m.Payloads,
		&message.SA{Proposals: []message.Proposal{t.chosen}},
		&message.KE{Group: uint16(t.ke.Group()), Data: t.ke.Public()},
		&message.Nonce{Data: t.sa.nr},
	)
	if t.peerFrag {
		m.Payloads = append(m.Payloads, &message.Notify{NType: message.IKEV2_FRAGMENTATION_SUPPORTED})
		t.sa.fragOK = true
	}
	return nil
}

// natdTask is ike_natd: NAT detection in IKE_SA_INIT (RFC 7296 §2.23).
// Each end hashes the SPIs with the addresses and ports it sends from and
// to; a mismatch on receipt means a NAT rewrote them. With a NAT, or
// ForceEncap, the initiator floats to the NAT-T port for IKE_AUTH on.
type natdTask struct {
	taskBase
	peerSent bool // responder: the request carried NAT detection
}

func (t *natdTask) String() string { return "ike_natd" }

func natdHash(spiI, spiR uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	binary.Write(h, binary.BigEndian, spiI)
	binary.Write(h, binary.BigEndian, spiR)
	h.Write(ap.Addr().AsSlice())
	binary.Write(h, binary.BigEndian, ap.Port())
	return h.Sum(nil)
}

func (t *natdTask) build(m *message.Message) error {
	sa := t.sa
	if !sa.initiator && !t.peerSent {
		return nil
	}
	src := natdHash(m.SPIi, m.SPIr, sa.local)
	if sa.forceEncap {
		src = randomBytes(sha1.Size) // make the peer see a NAT, as strongSwan's encap=yes does
	}
	m.Payloads = append(m.Payloads,
		&message.Notify{NType: message.NAT_DETECTION_SOURCE_IP, Data: src},
		&message.Notify{NType: message.NAT_DETECTION_DESTINATION_IP, Data: natdHash(m.SPIi, m.SPIr, sa.remote)},
	)
	return nil
}

func (t *natdTask) process(m *message.Message) error {
	sa := t.sa
	if sa.initiator && sa.keys == nil {
		return nil // a cookie or INVALID_KE round, or a failure
	}
	var srcSeen, srcMatch, dstSeen, dstMatch bool
	for _, p := range m.Payloads {
		n, ok := p.(*message.Notify)
		if !ok {
			continue
		}
		switch n.NType {
		case message.NAT_DETECTION_SOURCE_IP:
			srcSeen = true
			srcMatch = srcMatch || string(n.Data) == string(natdHash(m.SPIi, m.SPIr, sa.remote))
		case message.NAT_DETECTION_DESTINATION_IP:
			dstSeen = true
			dstMatch = dstMatch || string(n.Data) == string(natdHash(m.SPIi, m.SPIr, sa.local))
		}
	}
	if !srcSeen || !dstSeen {
		return nil
	}
	t.peerSent = true
	sa.natRemote, sa.natLocal = !srcMatch, !dstMatch
	if sa.natLocal || sa.natRemote {
		sa.log.Info("NAT detected", "local_behind_nat", sa.natLocal, "remote_behind_nat", sa.natRemote)
	}
	if sa.initiator && sa.encap() {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.e.cfg.NATTPort)
		sa.e.setRemote(sa, netip.AddrPortFrom(sa.remote.Addr(), sa.e.cfg.NATTPort))
		sa.log.Debug("floating to the NAT-T port", "local", sa.local, "remote", sa.remote)
	}
	return nil
}
