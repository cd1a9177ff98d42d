package ike

import (
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
)

// ikeRekeyTask is ike_rekey: a new IKE SA replaces this one through
// CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18) and inherits its CHILD_SAs; the
// rekey's initiator then deletes the old one.
type ikeRekeyTask struct {
	taskBase
	spi     uint64 // our SPI of the new IKE SA
	group   keymat.Group
	ke      *keymat.KeyExchange
	nonce   []byte
	offer   []message.Proposal
	retries int
	done    bool

	// responder
	notify    message.NotifyType
	notifyArg []byte
	chosen    message.Proposal
	peerSPI   uint64
	peerNonce []byte
	newSA     *ikeSA
}

func (t *ikeRekeyTask) String() string { return "ike_rekey" }

// startRekey queues our rekey of the IKE SA.
func (sa *ikeSA) startRekey() {
	if sa.state != ikeEstablished || sa.rekeying != nil {
		return
	}
	sa.log.Info("rekeying IKE SA")
	t := &ikeRekeyTask{taskBase: taskBase{sa}, group: sa.suite.DH}
	sa.rekeying = t
	sa.queueExchange(message.CREATE_CHILD_SA, t)
}

func (t *ikeRekeyTask) build(m *message.Message) error {
	sa := t.sa
	if !m.Response() {
		if sa.state != ikeEstablished || sa.rekeying != t {
			return errSkip
		}
		if t.spi == 0 {
			t.spi = sa.e.newIKESPI()
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
		props := rekeyProposals(sa)
		t.offer = ikeOffer(props, binary.BigEndian.AppendUint64(nil, t.spi))
		m.Payloads = append(m.Payloads, &message.SA{Proposals: t.offer}, &message.Nonce{Data: t.nonce},
			&message.KE{Group: uint16(t.group), Data: t.ke.Public()})
		return nil
	}
	if t.notify != 0 {
		m.Payloads = append(m.Payloads, &message.Notify{NType: t.notify, Data: t.notifyArg})
		return nil
	}
	m.Payloads = append(m.Payloads, &message.SA{Proposals: []message.Proposal{t.chosen}}, &message.Nonce{Data: t.nonce},
		&message.KE{Group: uint16(t.ke.Group()), Data: t.ke.Public()})
	return nil
}

// rekeyProposals offers the configured proposals with the current suite's
// group first, so the KE we send is the likely choice.
func rekeyProposals(sa *ikeSA) []IKEProposal {
	props := sa.peer.proposals()
	if p := sa.e.peer(sa.peer.Name); p != nil {
		props = p.proposals()
	}
	return props
}

func (t *ikeRekeyTask) process(m *message.Message) error {
	if !m.Response() {
		return t.processRequest(m)
	}
	sa := t.sa
	e := sa.e
	if n := m.ErrorNotify(); n != nil {
		switch n.NType {
		case message.INVALID_KE_PAYLOAD:
			if len(n.Data) == 2 && t.retries < 2 {
				g := keymat.Group(binary.BigEndian.Uint16(n.Data))
				if anyOffers(t.offer, message.TransformDH, uint16(g)) && g != t.group {
					t.retries++
					t.group = g
					sa.queue = append([]*exchange{{typ: message.CREATE_CHILD_SA, tasks: []task{t}}}, sa.queue...)
					return nil
				}
			}
		case message.TEMPORARY_FAILURE:
			sa.rekeying = nil
			if sa.successor == nil && sa.peerRekeyed == nil {
				d := 2*time.Second + time.Duration(mrand.IntN(3000))*time.Millisecond
				sa.log.Info("peer busy, retrying IKE SA rekey", "after", d)
				sa.timers[tRekey] = e.after(d, func() { sa.startRekey() })
			}
			return nil
		}
		sa.rekeying = nil
		return fmt.Errorf("peer refused IKE SA rekey: %v", n.NType)
	}
	sa.rekeying = nil
	saP, _ := m.Find(message.PayloadSA).(*message.SA)
	ke, _ := m.Find(message.PayloadKE).(*message.KE)
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if saP == nil || ke == nil || nonce == nil {
		return fmt.Errorf("IKE rekey response lacks SA, KE or nonce")
	}
	c, err := chosenProposal(t.offer, saP)
	if err != nil {
		return fmt.Errorf("IKE rekey: %w", err)
	}
	suite, err := ikeSuiteOf(c)
	if err != nil || len(c.SPI) != 8 || suite.DH != t.group || keymat.Group(ke.Group) != t.group {
		return fmt.Errorf("IKE rekey: bad proposal or KE (%v)", err)
	}
	shared, err := t.ke.Shared(ke.Data)
	if err != nil {
		return fmt.Errorf("IKE rekey: %w", err)
	}
	peerSPI := binary.BigEndian.Uint64(c.SPI)
	n, err := sa.rekeyed(true, t.spi, peerSPI, suite, shared, t.nonce, nonce.Data)
	if err != nil {
		return err
	}
	if p := sa.peerRekeyed; p != nil && p.state != ikeDead {
		if lowerNonces(t.nonce, nonce.Data, p.ni, p.nr) {
			sa.log.Info("IKE SA rekey collision: ours is redundant, deleting it")
			sa.succeed(p)
			n.delete(ReasonRedundant)
			return nil
		}
		sa.log.Info("IKE SA rekey collision: the peer's is redundant")
	}
	sa.succeed(n)
	sa.delete(ReasonRekeyed)
	return nil
}

func (t *ikeRekeyTask) fail(error) {
	if t.sa.rekeying == t {
		t.sa.rekeying = nil
	}
}

func (t *ikeRekeyTask) processRequest(m *message.Message) error {
	sa := t.sa
	if sa.state != ikeEstablished || sa.successor != nil {
		t.notify = message.TEMPORARY_FAILURE
		return fmt.Errorf("IKE SA rekey request while %v", sa.state)
	}
	if sa.active != nil && sa.active.typ == message.CREATE_CHILD_SA && sa.rekeying == nil {
		// A CHILD_SA exchange of ours is under way on this IKE SA.
		t.notify = message.TEMPORARY_FAILURE
		return fmt.Errorf("IKE SA rekey request during our CREATE_CHILD_SA")
	}
	saP, _ := m.Find(message.PayloadSA).(*message.SA)
	ke, _ := m.Find(message.PayloadKE).(*message.KE)
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if ke == nil || nonce == nil {
		t.notify = message.INVALID_SYNTAX
		return fmt.Errorf("IKE rekey request lacks KE or nonce")
	}
	chosen, suite, ok := selectIKE(rekeyProposals(sa), saP.Proposals, keymat.Group(ke.Group))
	if !ok {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return fmt.Errorf("no acceptable IKE rekey proposal: offered %s", proposalsString(saP.Proposals))
	}
	var peerSPI []byte
	for _, p := range saP.Proposals {
		if p.Num == chosen.Num {
			peerSPI = p.SPI
		}
	}
	if len(peerSPI) != 8 {
		t.notify = message.INVALID_SYNTAX
		return fmt.Errorf("IKE rekey proposal with %d-byte SPI", len(peerSPI))
	}
	if keymat.Group(ke.Group) != suite.DH {
		t.notify, t.notifyArg = message.INVALID_KE_PAYLOAD, binary.BigEndian.AppendUint16(nil, uint16(suite.DH))
		return fmt.Errorf("IKE rekey KE for group %d, want %v", ke.Group, suite.DH)
	}
	mine, err := keymat.NewKeyExchange(suite.DH, nil)
	if err != nil {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return err
	}
	shared, err := mine.Shared(ke.Data)
	if err != nil {
		t.notify = message.INVALID_SYNTAX
		return err
	}
	t.ke, t.nonce = mine, randomBytes(nonceLen)
	t.spi = sa.e.newIKESPI()
	chosen.SPI = binary.BigEndian.AppendUint64(nil, t.spi)
	t.chosen = chosen
	n, err := sa.rekeyed(false, binary.BigEndian.Uint64(peerSPI), t.spi, suite, shared, nonce.Data, t.nonce)
	if err != nil {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return err
	}
	if sa.rekeying != nil && sa.active != nil && containsTask(sa.active.tasks, sa.rekeying) {
		// Our rekey is out too: the nonces decide when its response comes.
		sa.peerRekeyed = n
		return nil
	}
	sa.rekeying = nil // ours, if queued, is moot
	sa.succeed(n)
	sa.timers[tRekeyedWait] = sa.e.after(sa.e.cfg.Retransmit.total(), func() {
		if sa.state == ikeRekeyed {
			sa.log.Info("peer did not delete the IKE SA it rekeyed, deleting it")
			sa.delete(ReasonRekeyed)
		}
	})
	return nil
}

// rekeyed creates the IKE SA that replaces sa (RFC 7296 §2.18):
// SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr). It does not announce
// it; succeed does, once it is the one that survives.
func (sa *ikeSA) rekeyed(initiator bool, spiI, spiR uint64, suite keymat.IKESuite, shared, ni, nr []byte) (*ikeSA, error) {
	e := sa.e
	skeyseed := keymat.RekeySKEYSEED(sa.suite.PRF, sa.keys.SKd, shared, ni, nr)
	keys, err := keymat.DeriveIKE(suite, skeyseed, ni, nr, spiI, spiR, initiator)
	if err != nil {
		return nil, err
	}
	e.nextID++
	n := &ikeSA{e: e, id: e.nextID, state: ikeEstablished, initiator: initiator, spiI: spiI, spiR: spiR,
		candidates: sa.candidates, local: sa.local,
		natLocal: sa.natLocal, natRemote: sa.natRemote, forceEncap: sa.forceEncap, fragOK: sa.fragOK,
		suite: suite, keys: keys, ni: ni, nr: nr, remoteID: sa.remoteID, rekeyOf: sa.id, lastIn: e.clk.Now()}
	peer := sa.peer
	if p := e.peer(sa.peer.Name); p != nil {
		peer = p
	}
	e.setPeer(n, peer)
	e.setRemote(n, sa.remote)
	n.log = e.log.With("ike_sa", n.id, "remote", n.remote.Addr())
	e.sas[n.localSPI()] = n
	e.warnLegacy(suite.DH, "IKE SA rekey")
	return n, nil
}

// succeed hands sa's CHILD_SAs to n and announces n.
func (sa *ikeSA) succeed(n *ikeSA) {
	sa.state = ikeRekeyed
	sa.timers[tRekey].Stop()
	sa.timers[tHardExpire].Stop()
	sa.timers[tDPD].Stop()
	sa.timers[tKeepalive].Stop()
	sa.log.Info("IKE SA rekeyed", "new_ike_sa", n.id, "spi_i", fmt.Sprintf("%016x", n.spiI), "spi_r", fmt.Sprintf("%016x", n.spiR), "suite", n.suite.String())
	sa.e.stats.inc(cIKERekeyed)
	n.establish()
	sa.adopt(n)
}

// ikeDeleteTask is ike_delete: a Delete of the IKE SA itself, which takes
// its CHILD_SAs with it (RFC 7296 §1.4.1).
type ikeDeleteTask struct {
	taskBase
	reason Reason
}

func (t *ikeDeleteTask) String() string { return "ike_delete" }

func (t *ikeDeleteTask) build(m *message.Message) error {
	if !m.Response() {
		m.Payloads = append(m.Payloads, &message.Delete{Protocol: message.ProtoIKE})
	}
	return nil
}

func (t *ikeDeleteTask) process(m *message.Message) error {
	sa := t.sa
	if m.Response() {
		sa.destroy(t.reason)
		return nil
	}
	reason := ReasonDeletedByPeer
	switch {
	case sa.state == ikeRekeyed:
		reason = ReasonRekeyed
	case sa.peerRekeyed != nil && sa.peerRekeyed.state != ikeDead:
		// Deleted while our colliding rekey is out: the peer's SA won.
		sa.succeed(sa.peerRekeyed)
		reason = ReasonRekeyed
	default:
		sa.log.Info("peer deletes the IKE SA")
	}
	sa.afterSend = append(sa.afterSend, func() { sa.destroy(reason) })
	return nil
}

func (t *ikeDeleteTask) fail(error) { t.sa.destroy(t.reason) }
