package ike

import (
	"crypto/hmac"
	"strings"

	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
)

// ikeAuthTask authenticates both ends with pre-shared keys (IKE_AUTH,
// RFC 7296 §2.15). A responder tries the keys of every config matching the
// peer's address and identity, most specific first, and remembers all that
// verify: CHILD_SA selection then looks at static entries before dynamic
// templates.
type ikeAuthTask struct {
	taskBase
	failed bool
}

func (t *ikeAuthTask) String() string { return "ike_auth" }

func idPayload(id Identity, responder bool) *message.ID {
	return &message.ID{Responder: responder, IDType: id.Type, Data: id.Value}
}

// authData computes the AUTH value one side sends: initMsg is that side's
// IKE_SA_INIT message, nonce the other side's, skp that side's SK_p.
func (t *ikeAuthTask) authData(psk, initMsg, nonce, skp []byte, id *message.ID) []byte {
	prf := t.sa.suite.PRF
	return keymat.PSKAuth(prf, psk, keymat.SignedOctets(prf, initMsg, nonce, skp, id.Body()))
}

func (t *ikeAuthTask) build(m *message.Message) error {
	sa := t.sa
	if !sa.initiator {
		if t.failed {
			m.Payloads = append(m.Payloads, &message.Notify{NType: message.AUTHENTICATION_FAILED})
			return nil
		}
		idr := idPayload(sa.localID(), true)
		m.Payloads = append(m.Payloads, idr, &message.Auth{
			Method: message.AuthPSK, Data: t.authData(sa.peer.LocalPSK, sa.initResp, sa.ni, sa.keys.SKpr, idr)})
		return nil
	}
	idi := idPayload(sa.localID(), false)
	m.Payloads = append(m.Payloads, idi)
	if !sa.peer.RemoteID.IsZero() {
		m.Payloads = append(m.Payloads, idPayload(sa.peer.RemoteID, true))
	}
	m.Payloads = append(m.Payloads, &message.Auth{
		Method: message.AuthPSK, Data: t.authData(sa.peer.LocalPSK, sa.initReq, sa.nr, sa.keys.SKpi, idi)})
	if !sa.e.hasOtherSA(sa) {
		m.Payloads = append(m.Payloads, &message.Notify{NType: message.INITIAL_CONTACT})
	}
	return nil
}

func (t *ikeAuthTask) process(m *message.Message) error {
	sa := t.sa
	if !sa.initiator {
		return t.processRequest(m)
	}
	if n := m.Notify(message.AUTHENTICATION_FAILED); n != nil {
		return fatal(ReasonFailed, "peer %v rejected our authentication (AUTHENTICATION_FAILED): check the pre-shared keys and identities", sa.remote.Addr())
	}
	idr, _ := m.Find(message.PayloadIDr).(*message.ID)
	auth, _ := m.Find(message.PayloadAUTH).(*message.Auth)
	if idr == nil || auth == nil {
		if n := m.ErrorNotify(); n != nil {
			return fatal(ReasonFailed, "IKE_AUTH refused: %v", n.NType)
		}
		return fatal(ReasonFailed, "IKE_AUTH response lacks IDr or AUTH")
	}
	if !sa.peer.acceptsID(idr) {
		sa.log.Warn("AUTHENTICATION_FAILED: the peer's identity is not one the ikev2 profile matches (match identity remote)",
			"peer", sa.peer.Name, "identity", idr.String(), "expected", sa.peer.expectedIDs())
		return authFailed("peer %v identifies as %v, expected %s", sa.remote.Addr(), idr, sa.peer.expectedIDs())
	}
	if auth.Method != message.AuthPSK {
		return fatal(ReasonFailed, "peer authenticates with method %d, only pre-shared keys are configured", auth.Method)
	}
	if !hmac.Equal(auth.Data, t.authData(sa.peer.remotePSK(), sa.initResp, sa.ni, sa.keys.SKpr, idr)) {
		return authFailed("AUTH of peer %v (%v) does not verify with our pre-shared key", sa.remote.Addr(), idr)
	}
	sa.remoteID = idr
	sa.establish()
	return nil
}

func (t *ikeAuthTask) processRequest(m *message.Message) error {
	sa := t.sa
	idi, _ := m.Find(message.PayloadIDi).(*message.ID)
	auth, _ := m.Find(message.PayloadAUTH).(*message.Auth)
	if idi == nil || auth == nil || auth.Method != message.AuthPSK {
		t.failed = true
		return fatal(ReasonFailed, "IKE_AUTH request without IDi or PSK AUTH")
	}
	var verified []*PeerConfig
	var tried, wrongID []string
	for _, p := range sa.e.peersFor(sa.local.Addr(), sa.remote.Addr()) {
		if !p.acceptsID(idi) {
			wrongID = append(wrongID, p.Name+" (expects "+p.expectedIDs()+")")
			continue
		}
		tried = append(tried, p.Name)
		if hmac.Equal(auth.Data, t.authData(p.remotePSK(), sa.initReq, sa.nr, sa.keys.SKpi, idi)) {
			verified = append(verified, p)
		}
	}
	if len(verified) == 0 && len(tried) == 0 && len(wrongID) > 0 {
		t.failed = true
		sa.log.Warn("AUTHENTICATION_FAILED: the peer's identity is not one the ikev2 profile matches (match identity remote)",
			"identity", idi.String(), "configs", strings.Join(wrongID, ", "))
		return fatal(ReasonFailed, "AUTHENTICATION_FAILED: %v identifies as %v, which no configuration for it accepts: %s",
			sa.remote.Addr(), idi, strings.Join(wrongID, ", "))
	}
	if len(verified) == 0 {
		t.failed = true
		return fatal(ReasonFailed, "AUTHENTICATION_FAILED: AUTH of %v (%v) verifies with the pre-shared key of none of [%s]",
			sa.remote.Addr(), idi, strings.Join(tried, ", "))
	}
	sa.e.setPeer(sa, verified[0])
	sa.candidates, sa.remoteID = verified, idi
	if m.Notify(message.INITIAL_CONTACT) != nil {
		sa.e.replaceOlder(sa)
	}
	sa.establish()
	return nil
}

// hasOtherSA reports whether another IKE SA with sa's peer config exists,
// up or coming up, in which case INITIAL_CONTACT would wrongly flush it at
// the peer.
func (e *Engine) hasOtherSA(sa *ikeSA) bool {
	for o := range e.byPeer[sa.peer.Name] {
		if o != sa && (o.state == ikeEstablished || o.state == ikeConnecting) {
			return true
		}
	}
	return false
}

// replaceOlder removes the IKE SAs a restarted peer no longer knows
// (INITIAL_CONTACT, RFC 7296 §2.4): those established before sa began.
// One established since then (both ends connecting to each other at
// once) is known to the peer and stays.
func (e *Engine) replaceOlder(sa *ikeSA) {
	var old []*ikeSA
	for o := range e.byRemote[sa.remote.Addr()] {
		if o != sa && o.peer.Name == sa.peer.Name && o.state != ikeConnecting && o.upSeq < sa.id {
			old = append(old, o)
		}
	}
	for _, o := range old {
		o.log.Info("peer restarted (INITIAL_CONTACT), removing its old IKE SA")
		o.destroy(ReasonReplaced)
	}
}

// authFailed ends the IKE SA because the peer did not authenticate; it is
// counted as AUTHENTICATION_FAILED on our side.
func authFailed(format string, args ...any) error {
	return refusedBy(message.AUTHENTICATION_FAILED, false, fatal(ReasonFailed, format, args...))
}
