package ike

import (
	"encoding/binary"
	"fmt"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
)

// Proposal building and selection. Offers list the configuration in order;
// a responder walks its own configuration in order and takes, per
// transform type, its most preferred value the peer offered (IOS and
// strongSwan's default: the responder's preference wins).

func encrTransform(c crypto.Cipher, bits int) message.Transform {
	t := message.Transform{Type: message.TransformENCR, ID: uint16(c)}
	if c.KeyBitsAllowed() != nil {
		t.KeyLength = uint16(bits)
	}
	return t
}

// ikeOffer is the SA payload content for IKE_SA_INIT or an IKE SA rekey.
func ikeOffer(ps []IKEProposal, spi []byte) []message.Proposal {
	out := make([]message.Proposal, 0, len(ps))
	for i := range ps {
		p := &ps[i]
		pr := message.Proposal{Num: uint8(i + 1), Protocol: message.ProtoIKE, SPI: spi}
		for _, e := range p.Encryption {
			pr.Transforms = append(pr.Transforms, encrTransform(e.Cipher, e.KeyBits))
		}
		for _, f := range p.prfs() {
			pr.Transforms = append(pr.Transforms, message.Transform{Type: message.TransformPRF, ID: uint16(f)})
		}
		for _, in := range p.Integrity {
			pr.Transforms = append(pr.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(in)})
		}
		for _, g := range p.Groups {
			pr.Transforms = append(pr.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(g)})
		}
		out = append(out, pr)
	}
	return out
}

// offers reports whether a proposal contains transform (typ, id, bits).
func offers(p *message.Proposal, typ message.TransformType, id uint16, bits uint16) bool {
	for _, t := range p.Transforms {
		if t.Type == typ && t.ID == id && t.KeyLength == bits && !t.UnknownAttrs {
			return true
		}
	}
	return false
}

func hasType(p *message.Proposal, typ message.TransformType) bool {
	for _, t := range p.Transforms {
		if t.Type == typ {
			return true
		}
	}
	return false
}

// noneOrAbsent reports whether a transform type is absent or offers NONE,
// as integrity must be with AEAD ciphers (RFC 5282 §8).
func noneOrAbsent(p *message.Proposal, typ message.TransformType) bool {
	return !hasType(p, typ) || offers(p, typ, 0, 0)
}

func pickGroup(p *message.Proposal, ours []keymat.Group, keGroup keymat.Group) (keymat.Group, bool) {
	// Prefer the group the peer already sent a KE for: no extra round trip.
	if keGroup != 0 && offers(p, message.TransformDH, uint16(keGroup), 0) {
		for _, g := range ours {
			if g == keGroup {
				return g, true
			}
		}
	}
	for _, g := range ours {
		if offers(p, message.TransformDH, uint16(g), 0) {
			return g, true
		}
	}
	return 0, false
}

// selectIKE picks the IKE proposal to accept. keGroup is the group of the
// peer's KE payload. The returned proposal carries the peer's proposal
// number and no SPI.
func selectIKE(ours []IKEProposal, offered []message.Proposal, keGroup keymat.Group) (message.Proposal, keymat.IKESuite, bool) {
	for i := range ours {
		o := &ours[i]
		for j := range offered {
			p := &offered[j]
			if p.Protocol != message.ProtoIKE {
				continue
			}
			var s keymat.IKESuite
			found := false
			for _, e := range o.Encryption {
				if offers(p, message.TransformENCR, uint16(e.Cipher), encrTransform(e.Cipher, e.KeyBits).KeyLength) {
					s.Cipher, s.KeyBits, found = e.Cipher, e.KeyBits, true
					break
				}
			}
			if !found {
				continue
			}
			if s.Cipher.AEAD() {
				if !noneOrAbsent(p, message.TransformINTEG) {
					continue
				}
			} else {
				found = false
				for _, in := range o.Integrity {
					if offers(p, message.TransformINTEG, uint16(in), 0) {
						s.Integ, found = in, true
						break
					}
				}
				if !found {
					continue
				}
			}
			found = false
			for _, f := range o.prfs() {
				if offers(p, message.TransformPRF, uint16(f), 0) {
					s.PRF, found = f, true
					break
				}
			}
			if !found {
				continue
			}
			if s.DH, found = pickGroup(p, o.Groups, keGroup); !found {
				continue
			}
			if s.Check() != nil {
				continue
			}
			return ikeChosen(p.Num, s, nil), s, true
		}
	}
	return message.Proposal{}, keymat.IKESuite{}, false
}

// ikeChosen is the single-transform proposal a responder returns.
func ikeChosen(num uint8, s keymat.IKESuite, spi []byte) message.Proposal {
	p := message.Proposal{Num: num, Protocol: message.ProtoIKE, SPI: spi}
	p.Transforms = append(p.Transforms, encrTransform(s.Cipher, s.KeyBits))
	p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformPRF, ID: uint16(s.PRF)})
	if s.Integ != crypto.IntegNone {
		p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(s.Integ)})
	}
	p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(s.DH)})
	return p
}

// chosenProposal checks a responder's SA payload: one proposal, answering
// one we offered, one transform of each type, each one we offered.
func chosenProposal(offered []message.Proposal, sa *message.SA) (*message.Proposal, error) {
	if sa == nil || len(sa.Proposals) != 1 {
		return nil, fmt.Errorf("response must carry exactly one proposal")
	}
	c := &sa.Proposals[0]
	var mine *message.Proposal
	for i := range offered {
		if offered[i].Num == c.Num && offered[i].Protocol == c.Protocol {
			mine = &offered[i]
		}
	}
	if mine == nil {
		return nil, fmt.Errorf("peer chose proposal %d (%v), which we did not offer", c.Num, c.Protocol)
	}
	seen := map[message.TransformType]bool{}
	for _, t := range c.Transforms {
		if seen[t.Type] {
			return nil, fmt.Errorf("peer chose two %v transforms", t.Type)
		}
		seen[t.Type] = true
		if !offers(mine, t.Type, t.ID, t.KeyLength) && !(t.ID == 0 && t.Type != message.TransformENCR) {
			return nil, fmt.Errorf("peer chose %v, which we did not offer", t)
		}
	}
	return c, nil
}

// ikeSuiteOf reads the suite out of a chosen IKE proposal.
func ikeSuiteOf(c *message.Proposal) (keymat.IKESuite, error) {
	var s keymat.IKESuite
	for _, t := range c.Transforms {
		switch t.Type {
		case message.TransformENCR:
			s.Cipher, s.KeyBits = crypto.Cipher(t.ID), int(t.KeyLength)
		case message.TransformPRF:
			s.PRF = keymat.PRFAlg(t.ID)
		case message.TransformINTEG:
			s.Integ = crypto.Integ(t.ID)
		case message.TransformDH:
			s.DH = keymat.Group(t.ID)
		}
	}
	return s, s.Check()
}

// childSel is what a CHILD_SA proposal settles.
type childSel struct {
	Name      string // transform set
	Protocol  message.ProtocolID
	Transform crypto.Transform
	ESN       bool
	DH        keymat.Group
}

func (c childSel) String() string {
	s := fmt.Sprintf("%v %v", c.Protocol, c.Transform)
	if c.ESN {
		s += " esn"
	}
	if c.DH != 0 {
		s += " pfs " + c.DH.String()
	}
	return s
}

func spiBytes(spi uint32) []byte { return binary.BigEndian.AppendUint32(nil, spi) }

// childOffer is the SA payload content for a CHILD_SA with our inbound SPI;
// pfs adds a DH transform (CREATE_CHILD_SA only).
func childOffer(cfg *ChildConfig, spi uint32, pfs keymat.Group) []message.Proposal {
	esn := []uint16{message.ESN_NONE, message.ESN_ON}
	if cfg.ESN {
		esn[0], esn[1] = esn[1], esn[0]
	}
	out := make([]message.Proposal, 0, len(cfg.Proposals))
	for i, cp := range cfg.Proposals {
		p := message.Proposal{Num: uint8(i + 1), Protocol: cp.Protocol, SPI: spiBytes(spi)}
		if cp.Protocol == message.ProtoESP {
			p.Transforms = append(p.Transforms, encrTransform(cp.Transform.Cipher, cp.Transform.KeyBits))
		}
		if cp.Transform.Integ != crypto.IntegNone {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(cp.Transform.Integ)})
		}
		if pfs != 0 {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(pfs)})
		}
		for _, e := range esn {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformESN, ID: e})
		}
		out = append(out, p)
	}
	return out
}

// selectChild picks the CHILD_SA proposal to accept from cfg's transform
// sets. In IKE_AUTH (pfsAllowed false) DH transforms are ignored. In
// CREATE_CHILD_SA a configured PFS group must be offered; without one, a
// peer asking for PFS gets it in the group of its KE payload.
func selectChild(cfg *ChildConfig, offered []message.Proposal, pfsAllowed bool, keGroup keymat.Group) (message.Proposal, childSel, bool) {
	for _, cp := range cfg.Proposals {
		for j := range offered {
			p := &offered[j]
			if p.Protocol != cp.Protocol || len(p.SPI) != 4 {
				continue
			}
			sel := childSel{Name: cp.Name, Protocol: cp.Protocol, Transform: cp.Transform}
			t := cp.Transform
			if cp.Protocol == message.ProtoESP && !offers(p, message.TransformENCR, uint16(t.Cipher), encrTransform(t.Cipher, t.KeyBits).KeyLength) {
				continue
			}
			if t.Integ == crypto.IntegNone {
				if !noneOrAbsent(p, message.TransformINTEG) {
					continue
				}
			} else if !offers(p, message.TransformINTEG, uint16(t.Integ), 0) {
				continue
			}
			if pfsAllowed {
				switch {
				case cfg.PFS != 0:
					if !offers(p, message.TransformDH, uint16(cfg.PFS), 0) {
						continue
					}
					sel.DH = cfg.PFS
				case !noneOrAbsent(p, message.TransformDH):
					if keGroup == 0 || !keGroup.Supported() || !offers(p, message.TransformDH, uint16(keGroup), 0) {
						continue
					}
					sel.DH = keGroup
				}
			}
			esnPref := []bool{cfg.ESN, !cfg.ESN}
			ok := !hasType(p, message.TransformESN)
			for _, e := range esnPref {
				if ok {
					break
				}
				id := message.ESN_NONE
				if e {
					id = message.ESN_ON
				}
				if offers(p, message.TransformESN, id, 0) {
					sel.ESN, ok = e, true
				}
			}
			if !ok {
				continue
			}
			return childChosen(p.Num, sel, 0), sel, true
		}
	}
	return message.Proposal{}, childSel{}, false
}

// childChosen is the single-transform proposal returned for a CHILD_SA.
func childChosen(num uint8, sel childSel, spi uint32) message.Proposal {
	p := message.Proposal{Num: num, Protocol: sel.Protocol, SPI: spiBytes(spi)}
	if sel.Protocol == message.ProtoESP {
		p.Transforms = append(p.Transforms, encrTransform(sel.Transform.Cipher, sel.Transform.KeyBits))
	}
	if sel.Transform.Integ != crypto.IntegNone {
		p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(sel.Transform.Integ)})
	}
	if sel.DH != 0 {
		p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(sel.DH)})
	}
	esn := message.ESN_NONE
	if sel.ESN {
		esn = message.ESN_ON
	}
	p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformESN, ID: esn})
	return p
}

// childSelOf reads a responder's chosen CHILD_SA proposal, checked against
// our offer by chosenProposal, and returns it with the peer's SPI.
func childSelOf(cfg *ChildConfig, c *message.Proposal) (childSel, uint32, error) {
	if len(c.SPI) != 4 {
		return childSel{}, 0, fmt.Errorf("%v SPI of %d bytes", c.Protocol, len(c.SPI))
	}
	sel := childSel{Protocol: c.Protocol}
	if int(c.Num) <= len(cfg.Proposals) {
		sel.Name = cfg.Proposals[c.Num-1].Name
	}
	for _, t := range c.Transforms {
		switch t.Type {
		case message.TransformENCR:
			sel.Transform.Cipher, sel.Transform.KeyBits = crypto.Cipher(t.ID), int(t.KeyLength)
		case message.TransformINTEG:
			sel.Transform.Integ = crypto.Integ(t.ID)
		case message.TransformDH:
			sel.DH = keymat.Group(t.ID)
		case message.TransformESN:
			sel.ESN = t.ID == message.ESN_ON
		}
	}
	if c.Protocol == message.ProtoESP && sel.Transform.Cipher == crypto.CipherNone {
		return childSel{}, 0, fmt.Errorf("ESP proposal without encryption")
	}
	if c.Protocol == message.ProtoAH && sel.Transform.Integ == crypto.IntegNone {
		return childSel{}, 0, fmt.Errorf("AH proposal without integrity")
	}
	return sel, binary.BigEndian.Uint32(c.SPI), nil
}
