package ike

import (
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
)

// acquireKey identifies an acquire being negotiated, so the packets that
// keep arriving meanwhile do not start more negotiations.
type acquireKey struct {
	peer, child string
	line        int
	src, dst    netip.Addr // per-host only
}

// childCreateTask is child_create: a CHILD_SA made in IKE_AUTH or in a
// CREATE_CHILD_SA exchange, and, with rekey set, child_rekey's
// CREATE_CHILD_SA with REKEY_SA (RFC 7296 §1.3).
type childCreateTask struct {
	taskBase
	initiator  bool
	inAuth     bool
	refusedFor string // responder: the entry whose transform sets did not match

	// Initiator.
	acq      *Acquire
	key      acquireKey
	peer     *PeerConfig
	cfg      *ChildConfig
	line     int
	tsLocal  []ts.Selector
	tsRemote []ts.Selector
	rekey    *childSA
	spi      uint32
	group    keymat.Group
	ke       *keymat.KeyExchange
	nonce    []byte
	offer    []message.Proposal
	retries  int
	done     bool

	// Responder.
	rekeyResp bool
	notify    message.NotifyType
	notifyArg []byte
	choice    *tsChoice
	chosen    message.Proposal
	child     *childSA
	transport bool
}

func (t *childCreateTask) String() string {
	if t.rekey != nil || t.rekeyResp {
		return "child_rekey"
	}
	return "child_create"
}

func newChildInitiator(sa *ikeSA, a *Acquire, key acquireKey, p *PeerConfig, c *ChildConfig, line int, local, remote []ts.Selector) *childCreateTask {
	return &childCreateTask{taskBase: taskBase{sa}, initiator: true, acq: a, key: key, peer: p, cfg: c, line: line,
		tsLocal: local, tsRemote: remote, group: c.PFS}
}

// newChildRekeyInitiator rekeys old with the current configuration of its
// entry and old's negotiated selectors.
func newChildRekeyInitiator(old *childSA) *childCreateTask {
	peer, cfg := old.peer, old.cfg
	if p := old.ike.e.peer(peer.Name); p != nil {
		if c := p.child(cfg.Name); c != nil {
			peer, cfg = p, c
		}
	}
	return &childCreateTask{taskBase: taskBase{old.ike}, initiator: true, peer: peer, cfg: cfg, line: old.pub.Line,
		tsLocal: old.pub.LocalTS, tsRemote: old.pub.RemoteTS, rekey: old, group: cfg.PFS}
}

func newChildResponder(sa *ikeSA, inAuth bool) *childCreateTask {
	return &childCreateTask{taskBase: taskBase{sa}, inAuth: inAuth}
}

func newChildRekeyResponder(sa *ikeSA) *childCreateTask {
	return &childCreateTask{taskBase: taskBase{sa}, rekeyResp: true}
}

// --- initiator ---------------------------------------------------------

func (t *childCreateTask) build(m *message.Message) error {
	if !t.initiator {
		return t.buildResponse(m)
	}
	sa := t.sa
	if t.rekey != nil && (t.rekey.rekeyTask != t || t.rekey.state != childRekeying) {
		return errSkip // the peer rekeyed or deleted it meanwhile
	}
	if t.spi == 0 {
		t.spi = sa.e.newChildSPI()
	}
	pfs := keymat.GroupNone
	if !t.inAuth {
		pfs = t.group
	}
	t.offer = childOffer(t.cfg, t.spi, pfs)
	if t.rekey != nil {
		m.Payloads = append(m.Payloads, &message.Notify{Protocol: t.rekey.pub.Protocol, SPI: spiBytes(t.rekey.pub.InSPI), NType: message.REKEY_SA})
	}
	if t.cfg.Mode == ModeTransport {
		m.Payloads = append(m.Payloads, &message.Notify{NType: message.USE_TRANSPORT_MODE})
	}
	m.Payloads = append(m.Payloads, &message.SA{Proposals: t.offer})
	if !t.inAuth {
		if t.nonce == nil {
			t.nonce = randomBytes(nonceLen)
		}
		m.Payloads = append(m.Payloads, &message.Nonce{Data: t.nonce})
		if pfs != 0 {
			if t.ke == nil || t.ke.Group() != pfs {
				ke, err := keymat.NewKeyExchange(pfs, nil)
				if err != nil {
					return err
				}
				t.ke = ke
			}
			m.Payloads = append(m.Payloads, &message.KE{Group: uint16(pfs), Data: t.ke.Public()})
		}
	}
	m.Payloads = append(m.Payloads,
		&message.TS{Selectors: fromTS(t.tsLocal)},
		&message.TS{Responder: true, Selectors: fromTS(t.tsRemote)})
	return nil
}

func (t *childCreateTask) process(m *message.Message) error {
	if !t.initiator {
		err := t.processRequest(m)
		if err != nil && t.notify != 0 && t.notify != message.TEMPORARY_FAILURE {
			child := t.refusedFor
			if t.choice != nil {
				child = t.choice.child.Name
			}
			t.sa.failChild(child, refusedBy(t.notify, false, err))
		}
		return err
	}
	err := t.processResponse(m)
	if err != nil && err != errRetry {
		t.fail(err)
	}
	return err
}

func (t *childCreateTask) processResponse(m *message.Message) error {
	sa := t.sa
	if sa.state == ikeDead {
		return fmt.Errorf("IKE SA gone")
	}
	if n := m.ErrorNotify(); n != nil {
		switch n.NType {
		case message.INVALID_KE_PAYLOAD:
			g := keymat.GroupNone
			if len(n.Data) == 2 {
				g = keymat.Group(binary.BigEndian.Uint16(n.Data))
			}
			return refusedBy(n.NType, true, fmt.Errorf("peer demands PFS group %v, %s is configured for %v", g, t.cfg.Name, t.group))
		case message.TEMPORARY_FAILURE:
			if t.retries++; t.retries <= 3 && t.rekey == nil {
				d := time.Second + time.Duration(mrand.IntN(2000))*time.Millisecond
				sa.log.Info("peer busy (TEMPORARY_FAILURE), retrying CHILD_SA", "child", t.cfg.Name, "after", d)
				t.retryLater(d)
				return nil
			}
		}
		return refusedBy(n.NType, true, fmt.Errorf("peer refused CHILD_SA %s: %v", t.cfg.Name, n.NType))
	}
	saP, _ := m.Find(message.PayloadSA).(*message.SA)
	tsi, _ := m.Find(message.PayloadTSi).(*message.TS)
	tsr, _ := m.Find(message.PayloadTSr).(*message.TS)
	if saP == nil || tsi == nil || tsr == nil {
		return fmt.Errorf("response lacks SA, TSi or TSr for CHILD_SA %s", t.cfg.Name)
	}
	c, err := chosenProposal(t.offer, saP)
	if err != nil {
		return fmt.Errorf("CHILD_SA %s: %w", t.cfg.Name, err)
	}
	sel, peerSPI, err := childSelOf(t.cfg, c)
	if err != nil {
		return fmt.Errorf("CHILD_SA %s: %w", t.cfg.Name, err)
	}
	ni, nr := sa.ni, sa.nr
	var shared []byte
	if !t.inAuth {
		nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
		if nonce == nil {
			return fmt.Errorf("CREATE_CHILD_SA response without nonce")
		}
		ni, nr = t.nonce, nonce.Data
		if sel.DH != 0 {
			ke, _ := m.Find(message.PayloadKE).(*message.KE)
			if ke == nil || t.ke == nil || keymat.Group(ke.Group) != t.ke.Group() {
				return fmt.Errorf("CREATE_CHILD_SA response lacks the PFS KE payload")
			}
			if shared, err = t.ke.Shared(ke.Data); err != nil {
				return fmt.Errorf("peer's PFS KE: %w", err)
			}
		}
	}
	local, remote := toTS(tsi.Selectors), toTS(tsr.Selectors)
	if !allValid(local) || !allValid(remote) || !ts.AllContained(local, t.tsLocal) || !ts.AllContained(remote, t.tsRemote) {
		return fmt.Errorf("peer returned selectors %s === %s outside the proposed %s === %s",
			ts.List(local), ts.List(remote), ts.List(t.tsLocal), ts.List(t.tsRemote))
	}
	mode := t.cfg.Mode
	if mode == ModeTransport && m.Notify(message.USE_TRANSPORT_MODE) == nil {
		sa.log.Warn("peer refused transport mode, using tunnel mode", "child", t.cfg.Name)
		mode = ModeTunnel
	}
	keys, err := keymat.DeriveChild(sa.suite.PRF, sa.keys.SKd, shared, ni, nr, sel.Transform)
	if err != nil {
		return err
	}
	e := sa.e
	child := e.newChild(childParams{sa: sa, peer: t.peer, cfg: t.cfg, line: t.line, sel: sel, inSPI: t.spi, outSPI: peerSPI,
		keys: keys, weInitiated: true, local: local, remote: remote, mode: mode, ni: ni, nr: nr})
	t.done = true
	if t.acq != nil {
		delete(e.acquiring, t.key)
	}
	if err := e.installInbound(child); err != nil {
		e.deleteChild(child, ReasonInstallFailed)
		return fmt.Errorf("installing CHILD_SA: %w", err)
	}
	old := t.rekey
	if old == nil || old.state == childDead {
		e.activate(child, nil)
		return nil
	}
	old.rekeyTask = nil
	if p := old.successor; p != nil && p.state != childDead {
		// Both ends rekeyed old at once (RFC 7296 §2.8.1): the SA made
		// with the lowest of the four nonces is redundant and deleted by
		// its initiator; the winner's initiator deletes old.
		if lowerNonces(ni, nr, p.ni, p.nr) {
			sa.log.Info("CHILD_SA rekey collision: ours is redundant, deleting it", "child", t.cfg.Name, "ours", spiHex(child.pub.InSPI), "peers", spiHex(p.pub.InSPI))
			old.state = childInstalled
			e.deleteChild(child, ReasonRedundant)
			return nil
		}
		sa.log.Info("CHILD_SA rekey collision: the peer's is redundant", "child", t.cfg.Name, "ours", spiHex(child.pub.InSPI), "peers", spiHex(p.pub.InSPI))
	}
	e.activate(child, old)
	old.state = childRekeyed
	e.deleteChild(old, ReasonRekeyed)
	return nil
}

// retryLater queues the task again after d.
func (t *childCreateTask) retryLater(d time.Duration) {
	sa := t.sa
	sa.e.after(d, func() {
		if t.sa.state == ikeDead {
			t.fail(fmt.Errorf("IKE SA gone"))
			return
		}
		t.sa.queueExchange(message.CREATE_CHILD_SA, t)
	})
}

// fail reports the failure of our request.
func (t *childCreateTask) fail(err error) {
	if !t.initiator || t.done {
		return
	}
	t.done = true
	e := t.sa.e
	if t.spi != 0 {
		if c, ok := e.spis[t.spi]; ok && c == nil {
			delete(e.spis, t.spi)
		}
	}
	e.stats.inc(cChildFailed)
	t.sa.failChild(t.cfg.Name, err)
	if t.acq != nil {
		delete(e.acquiring, t.key)
		t.sa.log.Info("CHILD_SA negotiation failed", "acquire", t.acq.String(), "err", err)
		e.cfg.Installer.AcquireFailed(*t.acq, err)
		return
	}
	if old := t.rekey; old != nil && old.rekeyTask == t {
		old.rekeyTask = nil
		if old.state == childRekeying {
			old.state = childInstalled
			retry := min(30*time.Second, max(old.pub.HardSeconds-e.clk.Now().Sub(old.pub.Created), 0)/4)
			t.sa.log.Info("CHILD_SA rekey failed, retrying", "child", old.pub.Child, "spi_in", spiHex(old.pub.InSPI), "after", retry, "err", err)
			old.timers[ctRekey].Stop()
			old.timers[ctRekey] = e.after(retry, func() { e.rekeyChild(old) })
		}
	}
}

// --- responder ---------------------------------------------------------

func (t *childCreateTask) processRequest(m *message.Message) error {
	sa := t.sa
	e := sa.e
	if sa.state != ikeEstablished {
		t.notify = message.TEMPORARY_FAILURE
		return nil
	}
	saP, _ := m.Find(message.PayloadSA).(*message.SA)
	tsi, _ := m.Find(message.PayloadTSi).(*message.TS)
	tsr, _ := m.Find(message.PayloadTSr).(*message.TS)
	if saP == nil && t.inAuth {
		return nil // an IKE SA without CHILD_SA (RFC 6023)
	}
	if saP == nil || tsi == nil || tsr == nil {
		t.notify = message.INVALID_SYNTAX
		return fmt.Errorf("CHILD_SA request lacks SA, TSi or TSr")
	}
	var peerNonce []byte
	var ke *message.KE
	if !t.inAuth {
		nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
		if nonce == nil {
			t.notify = message.INVALID_SYNTAX
			return fmt.Errorf("CREATE_CHILD_SA request without nonce")
		}
		peerNonce = nonce.Data
		ke, _ = m.Find(message.PayloadKE).(*message.KE)
	}
	peers := sa.candidates
	var old *childSA
	var onlyCfg *ChildConfig
	if t.rekeyResp {
		n := m.Notify(message.REKEY_SA)
		if len(n.SPI) != 4 {
			t.notify = message.INVALID_SYNTAX
			return fmt.Errorf("REKEY_SA with %d-byte SPI", len(n.SPI))
		}
		spi := binary.BigEndian.Uint32(n.SPI)
		old = sa.findChildOut(n.Protocol, spi)
		switch {
		case old == nil:
			t.notify, t.notifyArg = message.CHILD_SA_NOT_FOUND, nil
			return fmt.Errorf("peer rekeys unknown %v CHILD_SA %08x", n.Protocol, spi)
		case old.state == childRekeyed || old.state == childDeleting || old.state == childDead || old.successor != nil:
			t.notify = message.TEMPORARY_FAILURE
			return fmt.Errorf("peer rekeys CHILD_SA %08x, which is being replaced or deleted", old.pub.InSPI)
		}
		peers = []*PeerConfig{old.peer}
		if p := e.peer(old.peer.Name); p != nil && p.child(old.cfg.Name) != nil {
			peers = []*PeerConfig{p}
		}
		onlyCfg = peers[0].child(old.cfg.Name)
		if onlyCfg == nil {
			onlyCfg = old.cfg
			peers = []*PeerConfig{old.peer}
		}
	}
	proposedI, proposedR := toTS(tsi.Selectors), toTS(tsr.Selectors)
	if !allValid(proposedI) || !allValid(proposedR) {
		t.notify = message.INVALID_SYNTAX
		return fmt.Errorf("malformed traffic selectors %s === %s", ts.List(proposedI), ts.List(proposedR))
	}
	choices, why := selectTS(peers, onlyCfg, proposedI, proposedR)
	keGroup := keymat.GroupNone
	if ke != nil {
		keGroup = keymat.Group(ke.Group)
	}
	var sel childSel
	found := false
	for i := range choices {
		ch := &choices[i]
		prop, s, ok := selectChild(ch.child, saP.Proposals, !t.inAuth, keGroup)
		if ok {
			t.choice, t.chosen, sel, found = ch, prop, s, true
			break
		}
	}
	if !found {
		if len(choices) == 0 {
			t.notify = message.TS_UNACCEPTABLE
			sa.log.Warn("TS_UNACCEPTABLE: proposed selectors match no permit line",
				"tsi", ts.List(proposedI), "tsr", ts.List(proposedR), "why", strings.Join(why, " | "))
			return fmt.Errorf("TSi %s TSr %s match no crypto ACL permit line", ts.List(proposedI), ts.List(proposedR))
		}
		t.notify = message.NO_PROPOSAL_CHOSEN
		t.refusedFor = choices[0].child.Name
		var names []string
		for _, ch := range choices {
			for _, p := range ch.child.Proposals {
				names = append(names, ch.child.Name+":"+p.Name)
			}
		}
		sa.log.Warn("NO_PROPOSAL_CHOSEN: no transform set matches the peer's proposals",
			"offered", proposalsString(saP.Proposals), "configured", strings.Join(names, ","))
		return fmt.Errorf("no transform set matches for CHILD_SA")
	}
	ch := t.choice
	if ch.narrowed != "" {
		sa.log.Info("narrowed traffic selectors", "why", ch.narrowed,
			"tsi", ts.List(proposedI), "tsr", ts.List(proposedR), "to_tsi", ts.List(ch.remote), "to_tsr", ts.List(ch.local))
	}
	var shared []byte
	var mine *keymat.KeyExchange
	if sel.DH != 0 {
		if ke == nil || keymat.Group(ke.Group) != sel.DH {
			t.notify, t.notifyArg = message.INVALID_KE_PAYLOAD, binary.BigEndian.AppendUint16(nil, uint16(sel.DH))
			return fmt.Errorf("PFS needs a KE payload for %v", sel.DH)
		}
		var err error
		if mine, err = keymat.NewKeyExchange(sel.DH, nil); err == nil {
			shared, err = mine.Shared(ke.Data)
		}
		if err != nil {
			t.notify = message.INVALID_SYNTAX
			return fmt.Errorf("peer's PFS KE: %w", err)
		}
	}
	t.ke = mine
	t.transport = m.Notify(message.USE_TRANSPORT_MODE) != nil && ch.child.Mode == ModeTransport
	mode := ModeTunnel
	if t.transport {
		mode = ModeTransport
	}
	ni, nr := sa.ni, sa.nr
	if !t.inAuth {
		t.nonce = randomBytes(nonceLen)
		ni, nr = peerNonce, t.nonce
	}
	keys, err := keymat.DeriveChild(sa.suite.PRF, sa.keys.SKd, shared, ni, nr, sel.Transform)
	if err != nil {
		t.notify = message.NO_PROPOSAL_CHOSEN
		return err
	}
	peerSPI := binary.BigEndian.Uint32(saP.Proposals[indexOfProposal(saP.Proposals, t.chosen.Num)].SPI) // 4 bytes: selectChild checked
	t.spi = e.newChildSPI()
	t.chosen = childChosen(t.chosen.Num, sel, t.spi)
	child := e.newChild(childParams{sa: sa, peer: ch.peer, cfg: ch.child, line: ch.lineNum(), sel: sel, inSPI: t.spi, outSPI: peerSPI,
		keys: keys, weInitiated: false, local: ch.local, remote: ch.remote, mode: mode, ni: ni, nr: nr})
	if err := e.installInbound(child); err != nil {
		e.removeChild(child, ReasonInstallFailed)
		t.notify = message.NO_ADDITIONAL_SAS
		return err
	}
	t.child = child
	if old == nil {
		e.activate(child, nil)
		return nil
	}
	// Rekey responder: outbound moves once the peer deletes old, by which
	// time it has installed the new SA's inbound half.
	old.successor = child
	e.startLifetime(child)
	if rt := old.rekeyTask; rt != nil && (sa.active == nil || !containsTask(sa.active.tasks, rt)) {
		old.rekeyTask = nil // ours was still queued: the peer's replaces it
		old.state = childInstalled
	}
	old.timers[ctWait] = e.after(e.cfg.Retransmit.total(), func() {
		if old.state == childDead || child.state != childInbound {
			return
		}
		sa.log.Info("peer did not delete the CHILD_SA it rekeyed, switching anyway", "old", spiHex(old.pub.InSPI), "new", spiHex(child.pub.InSPI))
		e.activate(child, old)
		e.deleteChild(old, ReasonRekeyed)
	})
	return nil
}

// allValid reports whether every selector is well formed (a peer could
// send a range that ends before it starts).
func allValid(ss []ts.Selector) bool {
	for _, s := range ss {
		if !s.Valid() {
			return false
		}
	}
	return true
}

func containsTask(ts []task, t task) bool {
	for _, o := range ts {
		if o == t {
			return true
		}
	}
	return false
}

func indexOfProposal(ps []message.Proposal, num uint8) int {
	for i := range ps {
		if ps[i].Num == num {
			return i
		}
	}
	return 0
}

func (t *childCreateTask) buildResponse(m *message.Message) error {
	if t.notify != 0 {
		m.Payloads = append(m.Payloads, &message.Notify{NType: t.notify, Data: t.notifyArg})
		return nil
	}
	if t.child == nil {
		return nil
	}
	m.Payloads = append(m.Payloads, &message.SA{Proposals: []message.Proposal{t.chosen}})
	if !t.inAuth {
		m.Payloads = append(m.Payloads, &message.Nonce{Data: t.nonce})
		if t.ke != nil {
			m.Payloads = append(m.Payloads, &message.KE{Group: uint16(t.ke.Group()), Data: t.ke.Public()})
		}
	}
	m.Payloads = append(m.Payloads,
		&message.TS{Selectors: fromTS(t.choice.remote)},
		&message.TS{Responder: true, Selectors: fromTS(t.choice.local)})
	if t.transport {
		m.Payloads = append(m.Payloads, &message.Notify{NType: message.USE_TRANSPORT_MODE})
	}
	return nil
}

// childDeleteTask is child_delete: Delete payloads for CHILD_SAs in an
// INFORMATIONAL exchange (RFC 7296 §1.4.1).
type childDeleteTask struct {
	taskBase
	children []*childSA // ours to delete
	answer   map[message.ProtocolID][]uint32
}

func (t *childDeleteTask) String() string { return "child_delete" }

func (t *childDeleteTask) build(m *message.Message) error {
	if t.children == nil {
		for _, p := range []message.ProtocolID{message.ProtoESP, message.ProtoAH} {
			if spis := t.answer[p]; len(spis) > 0 {
				m.Payloads = append(m.Payloads, &message.Delete{Protocol: p, SPIs: spis})
			}
		}
		return nil
	}
	live := t.children[:0]
	byProto := map[message.ProtocolID][]uint32{}
	for _, c := range t.children {
		if c.state == childDeleting {
			live = append(live, c)
			byProto[c.pub.Protocol] = append(byProto[c.pub.Protocol], c.pub.InSPI)
		}
	}
	t.children = live
	if len(live) == 0 {
		return errSkip
	}
	for _, p := range []message.ProtocolID{message.ProtoESP, message.ProtoAH} {
		if spis := byProto[p]; len(spis) > 0 {
			m.Payloads = append(m.Payloads, &message.Delete{Protocol: p, SPIs: spis})
		}
	}
	return nil
}

func (t *childDeleteTask) process(m *message.Message) error {
	e := t.sa.e
	if m.Response() {
		for _, c := range t.children {
			if c.deleteReason == ReasonRekeyed {
				e.removeChildLater(c, ReasonRekeyed)
			} else {
				e.removeChild(c, c.deleteReason)
			}
		}
		return nil
	}
	t.answer = map[message.ProtocolID][]uint32{}
	for _, p := range m.Payloads {
		d, ok := p.(*message.Delete)
		if !ok {
			continue
		}
		for _, spi := range d.SPIs {
			c := t.sa.findChildOut(d.Protocol, spi)
			switch {
			case c == nil || c.state == childDead:
				continue
			case c.state == childDeleting:
				// Both ends deleted it at once: no Delete in the answer
				// (RFC 7296 §1.4.1).
				e.removeChild(c, c.deleteReason)
				continue
			}
			t.answer[d.Protocol] = append(t.answer[d.Protocol], c.pub.InSPI)
			switch s := c.successor; {
			case s != nil && s.state == childInbound:
				e.activate(s, c)
				c.timers[ctWait].Stop()
				e.removeChildLater(c, ReasonRekeyed)
			case c.state == childInbound:
				e.removeChild(c, ReasonRedundant)
			case c.state == childRekeyed:
				// Already replaced by our rekey; its delete crossed ours.
				e.removeChildLater(c, ReasonRekeyed)
			default:
				t.sa.log.Info("peer deleted CHILD_SA", "child", c.pub.Child, "spi_in", spiHex(c.pub.InSPI))
				e.removeChild(c, ReasonDeletedByPeer)
			}
		}
	}
	return nil
}

func (t *childDeleteTask) fail(error) {
	for _, c := range t.children {
		t.sa.e.removeChild(c, c.deleteReason)
	}
}
