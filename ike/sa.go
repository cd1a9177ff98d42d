package ike

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/loop"
	"ipsecgw/ike/message"
)

// ikeState is where an IKE SA is in its life.
type ikeState uint8

const (
	ikeConnecting  ikeState = iota // IKE_SA_INIT / IKE_AUTH under way
	ikeEstablished                 // authenticated
	ikeRekeyed                     // a successor carries its CHILD_SAs; awaiting the delete
	ikeDeleting                    // our Delete is out
	ikeDead
)

func (s ikeState) String() string {
	return [...]string{"CONNECTING", "ESTABLISHED", "REKEYED", "DELETING", "DEAD"}[s]
}

// ikeSA is one IKE SA and its task manager.
type ikeSA struct {
	e     *Engine
	id    uint64
	log   *slog.Logger
	state ikeState

	initiator  bool  // original initiator of this IKE SA
	failErr    error // why it fails: the tasks' error and the failure counted
	spiI, spiR uint64
	peer       *PeerConfig
	// Responder only: configs matching the peer's address, then (after
	// IKE_AUTH) those whose key authenticated it, most specific first.
	candidates []*PeerConfig
	halfOpen   *halfOpenKey

	local, remote       netip.AddrPort
	natLocal, natRemote bool
	forceEncap          bool
	fragOK              bool // both ends announced RFC 7383 support

	suite             keymat.IKESuite
	keys              *keymat.IKEKeys
	ni, nr            []byte
	initReq, initResp []byte // IKE_SA_INIT messages as sent, for AUTH
	remoteID          *message.ID

	children    []*childSA
	rekeyOf     uint64
	established time.Time
	upSeq       uint64 // engine sequence number at establishment, ordered with ids
	wasUp       bool

	// Task manager: our requests go one at a time (window size 1).
	queue     []*exchange
	active    *exchange
	nextID    uint32 // message ID of our next request
	peerNext  uint32 // message ID expected of the peer's next request
	lastResp  [][]byte
	afterSend []func()
	reqFrags  message.Reassembler
	respFrags message.Reassembler

	// IKE SA rekeying (RFC 7296 §2.8, collisions §2.8.1).
	rekeying    *ikeRekeyTask // ours, in flight
	peerRekeyed *ikeSA        // made answering the peer's rekey during ours
	successor   *ikeSA

	// busy holds back new requests while a message is being processed, so
	// requests its tasks queue leave after the message ID moved on.
	busy bool

	lastIn, lastOut time.Time // traffic from / to the peer, for DPD
	timers          [numIKETimers]*loop.Timer
}

// IKE SA timers.
const (
	tHalfOpen = iota
	tRekey
	tHardExpire
	tDPD
	tKeepalive
	tRekeyedWait
	numIKETimers
)

// exchange is one request of ours and the tasks that build it and process
// its response.
type exchange struct {
	typ     message.ExchangeType
	tasks   []task
	id      uint32
	packets [][]byte
	sent    int
	timer   *loop.Timer
	dpd     bool // retransmitted on the DPD schedule
}

// newIKESA creates an IKE SA and registers it under a fresh local SPI.
func (e *Engine) newIKESA(initiator bool, peer *PeerConfig, local, remote netip.AddrPort) *ikeSA {
	e.nextID++
	sa := &ikeSA{e: e, id: e.nextID, initiator: initiator, local: local,
		forceEncap: peer.ForceEncap, lastIn: e.clk.Now()}
	e.setPeer(sa, peer)
	e.setRemote(sa, remote)
	spi := e.newIKESPI()
	if initiator {
		sa.spiI = spi
	} else {
		sa.spiR = spi
	}
	e.sas[spi] = sa
	sa.log = e.log.With("ike_sa", sa.id, "remote", remote.Addr())
	sa.timers[tHalfOpen] = e.after(e.cfg.HalfOpenTimeout, func() {
		if sa.state == ikeConnecting {
			sa.log.Info("IKE SA not established in time", "timeout", e.cfg.HalfOpenTimeout)
			sa.destroy(ReasonUnreachable)
		}
	})
	return sa
}

func (sa *ikeSA) localSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) spisMatch(h *message.Header) bool {
	if h.SPIi != sa.spiI {
		return false
	}
	// An initiator learns SPIr from the IKE_SA_INIT response.
	return h.SPIr == sa.spiR || (sa.initiator && sa.spiR == 0 && h.Exchange == message.IKE_SA_INIT)
}

func (sa *ikeSA) encap() bool { return sa.natLocal || sa.natRemote || sa.forceEncap }

// Errors tasks return.
var (
	// errRetry: rebuild and resend the request (cookie, INVALID_KE_PAYLOAD).
	errRetry = errors.New("retry exchange")
	// errSkip: the task is no longer needed; leave it out of the request.
	errSkip = errors.New("task no longer needed")
)

// fatalError ends the IKE SA.
type fatalError struct {
	reason Reason
	err    error
}

func (f *fatalError) Error() string { return f.err.Error() }

func fatal(r Reason, format string, args ...any) error {
	return &fatalError{reason: r, err: fmt.Errorf(format, args...)}
}

// queueExchange adds a request to send once those before it complete.
func (sa *ikeSA) queueExchange(typ message.ExchangeType, tasks ...task) {
	sa.queue = append(sa.queue, &exchange{typ: typ, tasks: tasks})
	sa.kick()
}

// kick sends the next queued request if none is outstanding and the SA's
// state allows it.
func (sa *ikeSA) kick() {
	for !sa.busy && sa.active == nil && len(sa.queue) > 0 {
		i := sa.nextSendable()
		if i < 0 {
			return
		}
		x := sa.queue[i]
		sa.queue = append(sa.queue[:i], sa.queue[i+1:]...)
		sa.sendRequest(x)
	}
}

func (sa *ikeSA) nextSendable() int {
	for i, x := range sa.queue {
		switch sa.state {
		case ikeConnecting:
			if x.typ == message.IKE_SA_INIT || x.typ == message.IKE_AUTH {
				return i
			}
		case ikeEstablished:
			return i
		case ikeRekeyed, ikeDeleting:
			if _, ok := x.tasks[0].(*ikeDeleteTask); ok {
				return i
			}
		}
	}
	return -1
}

func (sa *ikeSA) newMessage(typ message.ExchangeType, id uint32, response bool) *message.Message {
	m := &message.Message{Header: message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: typ, MessageID: id}}
	if sa.initiator {
		m.Flags |= message.FlagInitiator
	}
	if response {
		m.Flags |= message.FlagResponse
	}
	return m
}

// sendRequest builds x's request from its tasks and sends it.
func (sa *ikeSA) sendRequest(x *exchange) {
	x.id = sa.nextID
	m := sa.newMessage(x.typ, x.id, false)
	kept := x.tasks[:0]
	for _, t := range x.tasks {
		switch err := t.build(m); {
		case err == nil:
			kept = append(kept, t)
		case errors.Is(err, errSkip):
		default:
			sa.log.Info("cannot build request", "exchange", x.typ, "task", t, "err", err)
			t.fail(err)
		}
	}
	x.tasks = kept
	if len(x.tasks) == 0 {
		sa.kick()
		return
	}
	packets, err := sa.encode(m)
	if err != nil {
		sa.log.Error("cannot encode request", "exchange", x.typ, "err", err)
		for _, t := range x.tasks {
			t.fail(err)
		}
		sa.kick()
		return
	}
	if x.typ == message.IKE_SA_INIT {
		sa.initReq = packets[0]
	}
	sa.log.Debug("sending", "message", m, "local", sa.local, "to", sa.remote, "packets", len(packets))
	x.packets, x.sent = packets, 0
	sa.active = x
	sa.transmit(x)
}

func (sa *ikeSA) transmit(x *exchange) {
	for _, p := range x.packets {
		sa.e.send(sa.local, sa.remote, p)
	}
	x.sent++
	var d time.Duration
	if x.dpd {
		d = sa.peer.DPD.retry()
	} else {
		d = sa.e.cfg.Retransmit.delay(x.sent - 1)
	}
	x.timer = sa.e.after(d, func() { sa.retransmit(x) })
}

// resendNow sends the outstanding request carrying t once more, now,
// leaving its retransmission schedule as it was; nothing when t's request
// is not the one in flight (still queued, or answered).
func (sa *ikeSA) resendNow(t task) {
	x := sa.active
	if x == nil || !slices.Contains(x.tasks, t) {
		return
	}
	sa.e.stats.inc(cRetransmit)
	sa.log.Debug("resending at once", "exchange", x.typ, "message_id", x.id)
	for _, p := range x.packets {
		sa.e.send(sa.local, sa.remote, p)
	}
}

func (sa *ikeSA) retransmit(x *exchange) {
	if sa.active != x {
		return
	}
	tries := sa.e.cfg.Retransmit.Tries
	if x.dpd {
		tries = sa.peer.DPD.retries()
	}
	if x.sent > tries {
		sa.log.Info("giving up after retransmissions", "exchange", x.typ, "message_id", x.id, "sent", x.sent)
		reason := ReasonUnreachable
		if x.dpd {
			reason = ReasonPeerDead
			sa.e.stats.inc(cDPDDead)
		}
		for _, t := range x.tasks {
			if d, ok := t.(*ikeDeleteTask); ok {
				reason = d.reason // deleting anyway
			}
		}
		sa.destroy(reason)
		return
	}
	sa.e.stats.inc(cRetransmit)
	sa.log.Debug("retransmitting", "exchange", x.typ, "message_id", x.id, "try", x.sent)
	sa.transmit(x)
}

// encode seals a message, fragmenting it when both ends support RFC 7383.
func (sa *ikeSA) encode(m *message.Message) ([][]byte, error) {
	if m.Exchange == message.IKE_SA_INIT {
		b, err := m.Encode(nil)
		return [][]byte{b}, err
	}
	if sa.fragOK {
		packets, err := m.EncodeFragments(sa.keys.Out, sa.fragmentLimit())
		if len(packets) > 1 {
			sa.e.stats.inc(cFragmentedTx)
		}
		return packets, err
	}
	b, err := m.Encode(sa.keys.Out)
	return [][]byte{b}, err
}

// fragmentLimit is the IKE message size that fills FragmentSize with the
// IP and UDP headers and the non-ESP marker.
func (sa *ikeSA) fragmentLimit() int {
	n := sa.e.cfg.FragmentSize - 8
	if sa.remote.Addr().Is4() {
		n -= 20
	} else {
		n -= 40
	}
	if sa.local.Port() == sa.e.cfg.NATTPort {
		n -= 4
	}
	return n
}

// receive handles a datagram for this SA: opens it, reassembles
// fragments, and passes requests and responses on.
func (sa *ikeSA) receive(local, remote netip.AddrPort, b []byte, h *message.Header) {
	m, err := message.Parse(b)
	if err != nil {
		sa.e.dropDecode(err, remote)
		return
	}
	if m.Protected() {
		if sa.keys == nil {
			sa.e.stats.inc(cDropUnexpected)
			return
		}
		if m, err = sa.open(m); m == nil {
			if err != nil {
				sa.e.dropDecode(err, remote)
				sa.answerCritical(h, err)
			}
			return
		}
	} else if h.Exchange != message.IKE_SA_INIT {
		sa.e.stats.inc(cDropUnexpected)
		sa.log.Debug("unprotected message outside IKE_SA_INIT", "exchange", h.Exchange)
		return
	}
	if sa.state == ikeDead {
		return
	}
	sa.lastIn = sa.e.clk.Now()
	if m.Response() {
		sa.handleResponse(m)
		return
	}
	if m.Exchange != message.IKE_SA_INIT && (sa.encap() || local.Port() == sa.e.cfg.NATTPort) {
		// RFC 7296 §2.23: follow a peer behind a NAT to where it now is.
		sa.local = local
		if remote != sa.remote {
			sa.e.setRemote(sa, remote)
		}
	}
	sa.handleRequest(m)
}

// open decrypts an SK message or adds an SKF fragment, returning nil
// until a fragmented message is complete.
func (sa *ikeSA) open(m *message.Message) (*message.Message, error) {
	num, _, frag := m.Fragment()
	if !frag {
		if err := m.Open(sa.keys.In); err != nil {
			return nil, err
		}
		return m, nil
	}
	if !sa.fragOK {
		sa.e.stats.inc(cDropFragment)
		return nil, nil
	}
	if !m.Response() && sa.peerNext > 0 && m.MessageID == sa.peerNext-1 {
		// A retransmitted fragmented request: the first fragment, once
		// authenticated, has the cached response resent (RFC 7383 §2.6.1).
		var check message.Reassembler
		if _, err := check.Add(m, sa.keys.In); err != nil {
			return nil, err
		}
		if num == 1 {
			sa.resendResponse()
		}
		return nil, nil
	}
	r := &sa.respFrags
	if !m.Response() {
		r = &sa.reqFrags
	}
	whole, err := r.Add(m, sa.keys.In)
	if whole != nil {
		sa.e.stats.inc(cReassembled)
	}
	return whole, err
}

// answerCritical answers a request with an unsupported critical payload
// (RFC 7296 §2.5).
func (sa *ikeSA) answerCritical(h *message.Header, err error) {
	var me *message.Error
	if h.Response() || h.MessageID != sa.peerNext || !errors.As(err, &me) || me.Reason != message.ReasonCritical {
		return
	}
	resp := sa.newMessage(h.Exchange, h.MessageID, true)
	resp.Payloads = []message.Payload{&message.Notify{NType: message.UNSUPPORTED_CRITICAL_PAYLOAD, Data: []byte{byte(me.Payload)}}}
	sa.sendResponse(resp)
}

func (sa *ikeSA) resendResponse() {
	sa.e.stats.inc(cRetransmitRx)
	for _, p := range sa.lastResp {
		sa.e.send(sa.local, sa.remote, p)
	}
}

// handleResponse processes the response to our outstanding request.
func (sa *ikeSA) handleResponse(m *message.Message) {
	x := sa.active
	if x == nil || m.MessageID != x.id || m.Exchange != x.typ {
		sa.e.stats.inc(cDropMessageID)
		sa.log.Debug("unexpected response", "message_id", m.MessageID, "exchange", m.Exchange)
		return
	}
	if m.Exchange == message.IKE_SA_INIT && sa.spiR == 0 && m.SPIr != 0 {
		sa.spiR = m.SPIr
	}
	sa.log.Debug("received", "message", m, "from", sa.remote)
	x.timer.Stop()
	sa.active = nil
	sa.busy = true
	defer func() { sa.busy = false }()
	retry := false
	for i, t := range x.tasks {
		err := t.process(m)
		if err == nil {
			continue
		}
		if errors.Is(err, errRetry) {
			retry = true
			continue
		}
		var f *fatalError
		if errors.As(err, &f) {
			sa.log.Info("IKE SA failed", "exchange", x.typ, "err", err)
			sa.failWith(err, m.ErrorNotify(), true)
			for _, rest := range x.tasks[i+1:] {
				rest.fail(sa.failErr)
			}
			sa.destroy(f.reason)
			return
		}
		sa.log.Info("exchange task failed", "exchange", x.typ, "task", t, "err", err)
	}
	if sa.state == ikeDead {
		return
	}
	sa.busy = false
	if retry {
		sa.sendRequest(x)
		return
	}
	sa.nextID++
	sa.kick()
}

// handleRequest answers a request of the peer, or resends the answer to
// its previous one.
func (sa *ikeSA) handleRequest(m *message.Message) {
	switch {
	case sa.peerNext > 0 && m.MessageID == sa.peerNext-1:
		sa.log.Debug("duplicate request, resending response", "message_id", m.MessageID)
		sa.resendResponse()
		return
	case m.MessageID != sa.peerNext:
		sa.e.stats.inc(cDropMessageID)
		sa.log.Debug("request out of window", "message_id", m.MessageID, "expected", sa.peerNext)
		return
	}
	sa.log.Debug("received", "message", m, "from", sa.remote)
	tasks, err := sa.responderTasks(m)
	resp := sa.newMessage(m.Exchange, m.MessageID, true)
	var failure error // ends the IKE SA once the response is sent
	if err != nil {
		var f *fatalError
		sa.log.Info("rejecting request", "exchange", m.Exchange, "err", err)
		resp.Payloads = append(resp.Payloads, &message.Notify{NType: message.INVALID_SYNTAX})
		if errors.As(err, &f) {
			sa.afterSend = append(sa.afterSend, func() { sa.destroy(f.reason) })
			failure = err
		}
	}
	sa.busy = true
	processed := tasks[:0]
	for _, t := range tasks {
		err := t.process(m)
		processed = append(processed, t)
		var f *fatalError
		if errors.As(err, &f) {
			sa.log.Info("IKE SA failed", "exchange", m.Exchange, "err", err)
			sa.afterSend = append(sa.afterSend, func() { sa.destroy(f.reason) })
			failure = err
			break
		}
		if err != nil {
			sa.log.Info("request task failed", "exchange", m.Exchange, "task", t, "err", err)
		}
	}
	for _, t := range processed {
		if err := t.build(resp); err != nil {
			sa.log.Info("cannot build response", "task", t, "err", err)
		}
	}
	if failure != nil {
		sa.failWith(failure, resp.ErrorNotify(), false)
	}
	sa.sendResponse(resp)
}

// sendResponse encodes, sends and caches a response, then runs what waited
// for it to leave.
func (sa *ikeSA) sendResponse(resp *message.Message) {
	packets, err := sa.encode(resp)
	if err != nil {
		sa.log.Error("cannot encode response", "exchange", resp.Exchange, "err", err)
		packets = nil
	}
	if resp.Exchange == message.IKE_SA_INIT && packets != nil {
		sa.initResp = packets[0]
	}
	sa.lastResp = packets
	sa.peerNext = resp.MessageID + 1
	sa.log.Debug("sending", "message", resp, "local", sa.local, "to", sa.remote)
	for _, p := range packets {
		sa.e.send(sa.local, sa.remote, p)
	}
	sa.busy = false
	after := sa.afterSend
	sa.afterSend = nil
	for _, f := range after {
		f()
	}
	sa.kick()
}

// responderTasks picks the tasks that answer a request.
func (sa *ikeSA) responderTasks(m *message.Message) ([]task, error) {
	switch m.Exchange {
	case message.IKE_SA_INIT:
		if sa.state != ikeConnecting || sa.initiator || m.MessageID != 0 {
			return nil, fatal(ReasonFailed, "IKE_SA_INIT request on an IKE SA past it")
		}
		return []task{newIKEInitResponder(sa), &natdTask{taskBase{sa}, false}}, nil
	case message.IKE_AUTH:
		if sa.state != ikeConnecting || sa.initiator || sa.keys == nil {
			return nil, fatal(ReasonFailed, "IKE_AUTH request out of place")
		}
		return []task{&ikeAuthTask{taskBase: taskBase{sa}}, newChildResponder(sa, true)}, nil
	case message.CREATE_CHILD_SA:
		if sa.state == ikeConnecting {
			return nil, fatal(ReasonFailed, "CREATE_CHILD_SA before IKE_AUTH")
		}
		if p, ok := m.Find(message.PayloadSA).(*message.SA); ok && p.Proposals[0].Protocol == message.ProtoIKE {
			return []task{&ikeRekeyTask{taskBase: taskBase{sa}}}, nil
		}
		if m.Notify(message.REKEY_SA) != nil {
			return []task{newChildRekeyResponder(sa)}, nil
		}
		return []task{newChildResponder(sa, false)}, nil
	case message.INFORMATIONAL:
		// One Delete of the IKE SA ends everything; CHILD_SA deletes are
		// handled together; without either it is a liveness check or a
		// notification.
		var child bool
		for _, p := range m.Payloads {
			if d, ok := p.(*message.Delete); ok {
				if d.Protocol == message.ProtoIKE {
					return []task{&ikeDeleteTask{taskBase: taskBase{sa}}}, nil
				}
				child = true
			}
		}
		if child {
			return []task{&childDeleteTask{taskBase: taskBase{sa}}}, nil
		}
		return []task{&informationalTask{taskBase{sa}}}, nil
	}
	return nil, fmt.Errorf("exchange %v not supported", m.Exchange)
}

// establish marks the SA authenticated and starts its timers.
func (sa *ikeSA) establish() {
	now := sa.e.clk.Now()
	sa.state = ikeEstablished
	sa.established = now
	sa.e.nextID++
	sa.upSeq = sa.e.nextID
	sa.wasUp = true
	sa.timers[tHalfOpen].Stop()
	if sa.halfOpen != nil {
		delete(sa.e.halfOpen, *sa.halfOpen)
		sa.halfOpen = nil
	}
	sa.log = sa.log.With("peer", sa.peer.Name)
	life := sa.peer.lifetime()
	sa.timers[tRekey] = sa.e.after(softLifetime(life, sa.initiator), func() { sa.startRekey() })
	sa.timers[tHardExpire] = sa.e.after(life, func() {
		sa.log.Info("IKE SA lifetime expired without rekey")
		sa.delete(ReasonExpired)
	})
	sa.scheduleDPD()
	if sa.natLocal {
		sa.scheduleKeepalive()
	}
	sa.e.stats.inc(cIKEUp)
	sa.log.Info("IKE SA established", "local", sa.local, "remote_id", sa.remoteID, "suite", sa.suite.String(),
		"spi_i", fmt.Sprintf("%016x", sa.spiI), "spi_r", fmt.Sprintf("%016x", sa.spiR),
		"nat_local", sa.natLocal, "nat_remote", sa.natRemote)
	sa.e.cfg.Installer.IKESAUp(sa.info())
}

// scheduleDPD arms the liveness check of RFC 7296 §1.4 / IOS dpd.
func (sa *ikeSA) scheduleDPD() {
	d := sa.peer.DPD
	if d.Interval <= 0 {
		return
	}
	sa.timers[tDPD] = sa.e.after(d.Interval, func() {
		if sa.state != ikeEstablished {
			return
		}
		now := sa.e.clk.Now()
		idle := now.Sub(sa.lastIn) >= d.Interval
		if d.OnDemand {
			idle = idle && sa.lastOut.After(sa.lastIn)
		}
		if idle && sa.active == nil && len(sa.queue) == 0 {
			sa.log.Debug("no traffic from peer, checking liveness", "idle", now.Sub(sa.lastIn))
			sa.queue = append(sa.queue, &exchange{typ: message.INFORMATIONAL, tasks: []task{&informationalTask{taskBase{sa}}}, dpd: true})
			sa.e.stats.inc(cDPDSent)
			sa.kick()
		}
		sa.scheduleDPD()
	})
}

func (sa *ikeSA) scheduleKeepalive() {
	sa.timers[tKeepalive] = sa.e.after(sa.e.cfg.NATKeepalive, func() {
		if sa.state == ikeDead {
			return
		}
		if err := sa.e.cfg.Transport.Send(sa.local, sa.remote, []byte{0xff}); err == nil {
			sa.e.stats.inc(cTx)
		}
		sa.scheduleKeepalive()
	})
}

// delete tells the peer the IKE SA goes, then removes it.
func (sa *ikeSA) delete(reason Reason) {
	switch sa.state {
	case ikeDead, ikeDeleting:
		return
	case ikeConnecting:
		sa.destroy(reason)
		return
	}
	sa.state = ikeDeleting
	// Requests waiting behind the delete would never be answered.
	for _, x := range sa.queue {
		for _, t := range x.tasks {
			t.fail(fmt.Errorf("IKE SA being deleted"))
		}
	}
	sa.queue = nil
	sa.queueExchange(message.INFORMATIONAL, &ikeDeleteTask{taskBase: taskBase{sa}, reason: reason})
}

// destroy removes the SA and its CHILD_SAs without telling the peer.
func (sa *ikeSA) destroy(reason Reason) {
	if sa.state == ikeDead {
		return
	}
	sa.state = ikeDead
	for _, t := range sa.timers {
		t.Stop()
	}
	childReason := reason
	switch reason {
	case ReasonPeerDead, ReasonUnreachable, ReasonDeletedByPeer, ReasonCleared, ReasonShutdown, ReasonReplaced:
	default:
		childReason = ReasonIKESADown
	}
	for _, c := range append([]*childSA(nil), sa.children...) {
		sa.e.removeChild(c, childReason)
	}
	err := sa.failErr
	if err == nil {
		err = fmt.Errorf("IKE SA %s", reason)
		if reason == ReasonUnreachable {
			err = &failError{code: CodeTimeout, err: err}
		}
	}
	if sa.active != nil {
		sa.active.timer.Stop()
		for _, t := range sa.active.tasks {
			t.fail(err)
		}
		sa.active = nil
	}
	for _, x := range sa.queue {
		for _, t := range x.tasks {
			t.fail(err)
		}
	}
	sa.queue = nil
	if sa.e.sas[sa.localSPI()] == sa {
		delete(sa.e.sas, sa.localSPI())
	}
	sa.e.unindex(sa)
	if sa.halfOpen != nil {
		delete(sa.e.halfOpen, *sa.halfOpen)
		sa.halfOpen = nil
	}
	if sa.wasUp {
		sa.log.Info("IKE SA down", "reason", reason.String())
		sa.e.cfg.Installer.IKESADown(sa.info(), reason)
	} else {
		sa.e.stats.inc(cIKEFailed)
		sa.failIKE(err)
	}
}

// failWith remembers why the IKE SA fails, for the tasks it fails and the
// failure it is counted under: err's own code if it has one, else the
// notify that ended the exchange (sent by the peer if byPeer).
func (sa *ikeSA) failWith(err error, n *message.Notify, byPeer bool) {
	if sa.failErr != nil {
		return
	}
	var f *failError
	if !errors.As(err, &f) && n != nil {
		err = refusedBy(n.NType, byPeer, err)
	}
	sa.failErr = err
}

// adopt moves the CHILD_SAs and queued CHILD_SA work of sa to n, its
// rekeyed successor.
func (sa *ikeSA) adopt(n *ikeSA) {
	for _, c := range sa.children {
		c.ike = n
		n.children = append(n.children, c)
	}
	sa.children = nil
	var keep []*exchange
	for _, x := range sa.queue {
		if x.typ == message.CREATE_CHILD_SA || isChildDelete(x) {
			for _, t := range x.tasks {
				t.setSA(n)
			}
			n.queue = append(n.queue, x)
		} else {
			keep = append(keep, x)
		}
	}
	sa.queue = keep
	sa.successor = n
	n.kick()
}

func isChildDelete(x *exchange) bool {
	_, ok := x.tasks[0].(*childDeleteTask)
	return ok
}

// info snapshots the SA for events and show commands.
func (sa *ikeSA) info() *IKESAInfo {
	i := &IKESAInfo{
		ID: sa.id, Peer: sa.peer.Name, Local: sa.local, Remote: sa.remote, SPIi: sa.spiI, SPIr: sa.spiR,
		Initiator: sa.initiator, Suite: sa.suite, NATLocal: sa.natLocal, NATRemote: sa.natRemote,
		State: sa.state.String(), Established: sa.established, RekeyOf: sa.rekeyOf,
	}
	if sa.remoteID != nil {
		i.RemoteID = sa.remoteID.String()
	}
	i.LocalID = sa.localID().String()
	for _, c := range sa.children {
		if c.pub != nil {
			i.Children = append(i.Children, *c.pub)
			i.Children[len(i.Children)-1].InKeys, i.Children[len(i.Children)-1].OutKeys = Keys{}, Keys{}
		}
	}
	return i
}

func (sa *ikeSA) localID() Identity {
	if !sa.peer.LocalID.IsZero() {
		return sa.peer.LocalID
	}
	return AddrIdentity(sa.local.Addr())
}
