package ikev1

import (
	"encoding/binary"
	"fmt"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/keymat"
)

// Phase 1: one ISAKMP proposal with a transform per policy.

func policyAttrs(p Policy) []isakmp.Attribute {
	var enc uint16
	switch p.Cipher {
	case crypto.CipherDES:
		enc = isakmp.EncrDES
	case crypto.Cipher3DES:
		enc = isakmp.Encr3DES
	default:
		enc = isakmp.EncrAESCBC
	}
	a := []isakmp.Attribute{isakmp.BasicAttr(isakmp.AttrEncryption, enc)}
	if p.Cipher == crypto.CipherAESCBC {
		a = append(a, isakmp.BasicAttr(isakmp.AttrKeyLength, uint16(p.KeyBits)))
	}
	return append(a,
		isakmp.BasicAttr(isakmp.AttrHash, uint16(p.Hash)),
		isakmp.BasicAttr(isakmp.AttrAuthMethod, isakmp.AuthPreShared),
		isakmp.BasicAttr(isakmp.AttrGroup, uint16(p.Group)),
		isakmp.BasicAttr(isakmp.AttrLifeType, isakmp.LifeTypeSeconds),
		isakmp.UintAttr(isakmp.AttrLifeDuration, uint64(p.lifetime()/time.Second)),
	)
}

func phase1SA(pols []Policy) *isakmp.SA {
	prop := isakmp.Proposal{Number: 1, Protocol: isakmp.ProtoISAKMP}
	for i, p := range pols {
		prop.Transforms = append(prop.Transforms, isakmp.Transform{Number: uint8(i + 1), ID: isakmp.TransformKeyIKE, Attrs: policyAttrs(p)})
	}
	return &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentityOnly, Proposals: []isakmp.Proposal{prop}}
}

// parsePolicy reads a phase-1 transform; ok is false for anything but a
// pre-shared-key suite this engine implements.
func parsePolicy(t *isakmp.Transform) (Policy, bool) {
	if t.ID != isakmp.TransformKeyIKE {
		return Policy{}, false
	}
	var p Policy
	lifeType := uint64(0)
	for _, a := range t.Attrs {
		v, ok := a.Uint()
		if !ok {
			return Policy{}, false
		}
		switch a.Type {
		case isakmp.AttrEncryption:
			switch uint16(v) {
			case isakmp.EncrDES:
				p.Cipher = crypto.CipherDES
			case isakmp.Encr3DES:
				p.Cipher = crypto.Cipher3DES
			case isakmp.EncrAESCBC:
				p.Cipher = crypto.CipherAESCBC
			default:
				return Policy{}, false
			}
		case isakmp.AttrKeyLength:
			p.KeyBits = int(v)
		case isakmp.AttrHash:
			p.Hash = Hash(v)
		case isakmp.AttrAuthMethod:
			if uint16(v) != isakmp.AuthPreShared {
				return Policy{}, false
			}
		case isakmp.AttrGroup:
			p.Group = keymat.Group(v)
		case isakmp.AttrLifeType:
			lifeType = v
		case isakmp.AttrLifeDuration:
			if lifeType == uint64(isakmp.LifeTypeSeconds) && v > 0 && v < 1<<31 {
				p.Lifetime = time.Duration(v) * time.Second
			}
		default:
			return Policy{}, false // group description by prime etc.
		}
	}
	if p.Cipher == crypto.CipherAESCBC && p.KeyBits == 0 {
		p.KeyBits = 128 // RFC 3602 §5: default key length
	}
	if p.Cipher != crypto.CipherAESCBC {
		p.KeyBits = 0
	}
	return p, p.check() == nil
}

func sameSuite(a, b Policy) bool {
	return a.Cipher == b.Cipher && a.KeyBits == b.KeyBits && a.Hash == b.Hash && a.Group == b.Group
}

// selectPolicy picks, as IOS does, our lowest-priority policy that one of
// the peer's transforms matches (encryption, hash, authentication, group);
// the lifetime is the shorter of both. It returns the peer's transform,
// which the response carries back unchanged.
func selectPolicy(ours []Policy, sa *isakmp.SA) (Policy, *isakmp.Transform, error) {
	if sa.DOI != isakmp.DOIIPsec || len(sa.Proposals) != 1 || sa.Proposals[0].Protocol != isakmp.ProtoISAKMP {
		return Policy{}, nil, fmt.Errorf("want one ISAKMP proposal in the IPsec DOI")
	}
	prop := &sa.Proposals[0]
	for _, o := range ours {
		for i := range prop.Transforms {
			t := &prop.Transforms[i]
			p, ok := parsePolicy(t)
			if !ok || !sameSuite(o, p) {
				continue
			}
			chosen := o
			if p.Lifetime > 0 && p.Lifetime < o.lifetime() {
				chosen.Lifetime = p.Lifetime
			}
			return chosen, t, nil
		}
	}
	var offered []string
	for i := range prop.Transforms {
		if p, ok := parsePolicy(&prop.Transforms[i]); ok {
			offered = append(offered, p.String())
		} else {
			offered = append(offered, "unsupported("+prop.Transforms[i].String()+")")
		}
	}
	return Policy{}, nil, fmt.Errorf("no ISAKMP policy matches the peer's %v", offered)
}

// Phase 2: the IPsec DOI's ESP and AH transforms.

func espTransformID(c crypto.Cipher) (uint8, bool) {
	switch c {
	case crypto.CipherDES:
		return isakmp.ESPDES, true
	case crypto.Cipher3DES:
		return isakmp.ESP3DES, true
	case crypto.CipherNull:
		return isakmp.ESPNull, true
	case crypto.CipherAESCBC:
		return isakmp.ESPAESCBC, true
	case crypto.CipherAESGCM16:
		return isakmp.ESPAESGCM16, true
	}
	return 0, false
}

func authAlgorithm(i crypto.Integ) (uint16, bool) {
	switch i {
	case crypto.IntegHMACMD5_96:
		return isakmp.AuthHMACMD5, true
	case crypto.IntegHMACSHA1_96:
		return isakmp.AuthHMACSHA1, true
	case crypto.IntegHMACSHA256_128:
		return isakmp.AuthHMACSHA256, true
	case crypto.IntegHMACSHA384_192:
		return isakmp.AuthHMACSHA384, true
	case crypto.IntegHMACSHA512_256:
		return isakmp.AuthHMACSHA512, true
	}
	return 0, false
}

func ahTransformID(i crypto.Integ) (uint8, bool) {
	switch i {
	case crypto.IntegHMACMD5_96:
		return isakmp.AHMD5, true
	case crypto.IntegHMACSHA1_96:
		return isakmp.AHSHA, true
	case crypto.IntegHMACSHA256_128:
		return isakmp.AHSHA256, true
	case crypto.IntegHMACSHA384_192:
		return isakmp.AHSHA384, true
	case crypto.IntegHMACSHA512_256:
		return isakmp.AHSHA512, true
	}
	return 0, false
}

// encapMode is the Encapsulation Mode attribute for mode, UDP-encapsulated
// (RFC 3947 values) when NAT-T is in use.
func encapMode(m ike.Mode, udp bool) uint16 {
	switch {
	case m == ike.ModeTransport && udp:
		return isakmp.EncapUDPTransport
	case m == ike.ModeTransport:
		return isakmp.EncapTransport
	case udp:
		return isakmp.EncapUDPTunnel
	}
	return isakmp.EncapTunnel
}

// parseEncap returns the mode and UDP encapsulation of an attribute value.
func parseEncap(v uint16) (ike.Mode, bool, bool) {
	switch v {
	case isakmp.EncapTunnel:
		return ike.ModeTunnel, false, true
	case isakmp.EncapTransport:
		return ike.ModeTransport, false, true
	case isakmp.EncapUDPTunnel, isakmp.EncapUDPTunnelDraft:
		return ike.ModeTunnel, true, true
	case isakmp.EncapUDPTransport, isakmp.EncapUDPTransportDraft:
		return ike.ModeTransport, true, true
	}
	return 0, false, false
}

// phase2Params are the attributes shared by every transform of a quick
// mode offer.
type phase2Params struct {
	mode     ike.Mode
	udp      bool
	pfs      keymat.Group
	lifetime ike.Lifetime
}

func (p phase2Params) attrs() []isakmp.Attribute {
	a := []isakmp.Attribute{
		isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeTypeSeconds),
		isakmp.UintAttr(isakmp.AttrSALifeDuration, uint64(p.lifetime.Seconds/time.Second)),
		isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeTypeKilobytes),
		isakmp.UintAttr(isakmp.AttrSALifeDuration, p.lifetime.Kilobytes),
	}
	if p.pfs != 0 {
		a = append(a, isakmp.BasicAttr(isakmp.AttrSAGroup, uint16(p.pfs)))
	}
	return append(a, isakmp.BasicAttr(isakmp.AttrEncapMode, encapMode(p.mode, p.udp)))
}

// phase2SA builds the quick mode offer: one proposal number per transform
// set, holding an AH and/or an ESP proposal (a bundle when both).
func phase2SA(sets []TransformSet, p phase2Params, espSPI, ahSPI uint32) *isakmp.SA {
	sa := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentityOnly}
	common := p.attrs()
	for i, ts := range sets {
		n := uint8(i + 1)
		if ts.AH != crypto.IntegNone {
			id, _ := ahTransformID(ts.AH)
			auth, _ := authAlgorithm(ts.AH)
			attrs := append(append([]isakmp.Attribute(nil), common...), isakmp.BasicAttr(isakmp.AttrAuthAlg, auth))
			sa.Proposals = append(sa.Proposals, isakmp.Proposal{Number: n, Protocol: isakmp.ProtoAH, SPI: spiBytes(ahSPI),
				Transforms: []isakmp.Transform{{Number: 1, ID: id, Attrs: attrs}}})
		}
		if ts.ESP.Cipher != crypto.CipherNone {
			id, _ := espTransformID(ts.ESP.Cipher)
			attrs := append([]isakmp.Attribute(nil), common...)
			if ts.ESP.Integ != crypto.IntegNone {
				auth, _ := authAlgorithm(ts.ESP.Integ)
				attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrAuthAlg, auth))
			}
			if ts.ESP.KeyBits != 0 {
				attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrSAKeyLength, uint16(ts.ESP.KeyBits)))
			}
			sa.Proposals = append(sa.Proposals, isakmp.Proposal{Number: n, Protocol: isakmp.ProtoESP, SPI: spiBytes(espSPI),
				Transforms: []isakmp.Transform{{Number: 1, ID: id, Attrs: attrs}}})
		}
	}
	return sa
}

func spiBytes(spi uint32) []byte { return binary.BigEndian.AppendUint32(nil, spi) }

// phase2Transform is one negotiated protocol of a quick mode SA.
type phase2Transform struct {
	proto     isakmp.Protocol
	transform crypto.Transform
	peerSPI   uint32
	raw       isakmp.Transform // as proposed, for the response
	number    uint8
}

// parsePhase2 reads one ESP or AH transform with its attributes.
func parsePhase2(proto isakmp.Protocol, t *isakmp.Transform) (crypto.Transform, phase2Params, bool) {
	var tr crypto.Transform
	var p phase2Params
	switch proto {
	case isakmp.ProtoESP:
		switch t.ID {
		case isakmp.ESPDES:
			tr.Cipher = crypto.CipherDES
		case isakmp.ESP3DES:
			tr.Cipher = crypto.Cipher3DES
		case isakmp.ESPNull:
			tr.Cipher = crypto.CipherNull
		case isakmp.ESPAESCBC:
			tr.Cipher = crypto.CipherAESCBC
		case isakmp.ESPAESGCM16:
			tr.Cipher = crypto.CipherAESGCM16
		default:
			return tr, p, false
		}
	case isakmp.ProtoAH:
		if t.ID < isakmp.AHMD5 || t.ID > isakmp.AHSHA512 || t.ID == 4 {
			return tr, p, false
		}
	default:
		return tr, p, false
	}
	haveMode := false
	lifeType := uint64(0)
	for _, a := range t.Attrs {
		v, ok := a.Uint()
		if !ok {
			return tr, p, false
		}
		switch a.Type {
		case isakmp.AttrSALifeType:
			lifeType = v
		case isakmp.AttrSALifeDuration:
			p.lifetime = addLifetime(p.lifetime, lifeType, v)
		case isakmp.AttrSAGroup:
			p.pfs = keymat.Group(v)
		case isakmp.AttrEncapMode:
			p.mode, p.udp, ok = parseEncap(uint16(v))
			if !ok {
				return tr, p, false
			}
			haveMode = true
		case isakmp.AttrAuthAlg:
			switch uint16(v) {
			case isakmp.AuthHMACMD5:
				tr.Integ = crypto.IntegHMACMD5_96
			case isakmp.AuthHMACSHA1:
				tr.Integ = crypto.IntegHMACSHA1_96
			case isakmp.AuthHMACSHA256:
				tr.Integ = crypto.IntegHMACSHA256_128
			case isakmp.AuthHMACSHA384:
				tr.Integ = crypto.IntegHMACSHA384_192
			case isakmp.AuthHMACSHA512:
				tr.Integ = crypto.IntegHMACSHA512_256
			default:
				return tr, p, false
			}
		case isakmp.AttrSAKeyLength:
			tr.KeyBits = int(v)
		case isakmp.AttrESN:
			return tr, p, false // the fast path's IKEv1 SAs use 32-bit sequence numbers
		default:
			return tr, p, false
		}
	}
	if !haveMode {
		p.mode = ike.ModeTunnel // RFC 2407 §4.5: unspecified is tunnel
	}
	if tr.Cipher == crypto.CipherAESCBC && tr.KeyBits == 0 {
		tr.KeyBits = 128
	}
	if proto == isakmp.ProtoAH {
		want, _ := ahTransformID(tr.Integ)
		if tr.Integ == crypto.IntegNone || want != t.ID {
			return tr, p, false
		}
	}
	return tr, p, tr.Validate() == nil
}

// matchSet reports whether the bundle (the proposals of one number)
// offers exactly transform set ts, returning the chosen transforms. AH is
// never accepted UDP-encapsulated.
func matchSet(ts TransformSet, bundle []*isakmp.Proposal, want phase2Params, pfsOK func(keymat.Group) bool) ([]phase2Transform, phase2Params, bool) {
	needAH, needESP := ts.AH != crypto.IntegNone, ts.ESP.Cipher != crypto.CipherNone
	var out []phase2Transform
	var got phase2Params
	for _, prop := range bundle {
		if len(prop.SPI) != 4 {
			return nil, got, false
		}
		var wantT crypto.Transform
		switch {
		case prop.Protocol == isakmp.ProtoAH && needAH:
			wantT = crypto.Transform{Integ: ts.AH}
			needAH = false
		case prop.Protocol == isakmp.ProtoESP && needESP:
			wantT = ts.ESP
			needESP = false
		default:
			return nil, got, false
		}
		found := false
		for i := range prop.Transforms {
			tr, p, ok := parsePhase2(prop.Protocol, &prop.Transforms[i])
			// No AH in UDP: RFC 3948 encapsulates ESP only.
			if !ok || tr != wantT || p.mode != want.mode || !pfsOK(p.pfs) || prop.Protocol == isakmp.ProtoAH && p.udp {
				continue
			}
			got = p
			out = append(out, phase2Transform{proto: prop.Protocol, transform: tr, peerSPI: binary.BigEndian.Uint32(prop.SPI),
				raw: prop.Transforms[i], number: prop.Number})
			found = true
			break
		}
		if !found {
			return nil, got, false
		}
	}
	return out, got, !needAH && !needESP
}

// bundles groups an SA payload's proposals by number, in order.
func bundles(sa *isakmp.SA) [][]*isakmp.Proposal {
	var out [][]*isakmp.Proposal
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		if len(out) > 0 && out[len(out)-1][0].Number == p.Number {
			out[len(out)-1] = append(out[len(out)-1], p)
			continue
		}
		out = append(out, []*isakmp.Proposal{p})
	}
	return out
}

// minLifetime is the shorter of each limit (zero: unset).
func minLifetime(a, b ike.Lifetime) ike.Lifetime {
	if b.Seconds > 0 && b.Seconds < a.Seconds {
		a.Seconds = b.Seconds
	}
	if b.Kilobytes > 0 && b.Kilobytes < a.Kilobytes {
		a.Kilobytes = b.Kilobytes
	}
	return a
}

// lifetimeAttrs are the attributes of a RESPONDER-LIFETIME notification.
func lifetimeAttrs(l ike.Lifetime) []byte {
	t := isakmp.Transform{Attrs: []isakmp.Attribute{
		isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeTypeSeconds),
		isakmp.UintAttr(isakmp.AttrSALifeDuration, uint64(l.Seconds/time.Second)),
		isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeTypeKilobytes),
		isakmp.UintAttr(isakmp.AttrSALifeDuration, l.Kilobytes),
	}}
	return isakmp.AppendAttributes(nil, t.Attrs)
}

func addLifetime(l ike.Lifetime, lifeType, v uint64) ike.Lifetime {
	switch lifeType {
	case uint64(isakmp.LifeTypeSeconds):
		if v < 1<<31 {
			l.Seconds = time.Duration(v) * time.Second
		}
	case uint64(isakmp.LifeTypeKilobytes):
		l.Kilobytes = v
	}
	return l
}

// parseLifetime reads the life type and duration pairs of a
// RESPONDER-LIFETIME notification.
func parseLifetime(attrs []isakmp.Attribute) ike.Lifetime {
	var l ike.Lifetime
	lifeType := uint64(0)
	for _, a := range attrs {
		v, ok := a.Uint()
		if !ok {
			continue
		}
		switch a.Type {
		case isakmp.AttrSALifeType:
			lifeType = v
		case isakmp.AttrSALifeDuration:
			l = addLifetime(l, lifeType, v)
		}
	}
	return l
}
