package ikev1

import (
	"ipsecgw/ike"
)

// IPsecSA is one IPsec SA as quick mode negotiated it from one proposal:
// an ESP SA pair, an AH SA pair, or both for an AH+ESP transform set (a
// bundle: ESP applied first, AH outside it, RFC 2401 §4.5), with the same
// entry, line, proxy IDs, mode and lifetime. The engine hands it to the
// Installer as one unit and never changes it afterwards; the Installer may
// keep the pointer as a handle.
type IPsecSA struct {
	ESP, AH *ike.ChildSA // either may be nil, not both
}

// SAs lists the SA pairs, ESP first.
func (s *IPsecSA) SAs() []*ike.ChildSA {
	switch {
	case s.ESP == nil:
		return []*ike.ChildSA{s.AH}
	case s.AH == nil:
		return []*ike.ChildSA{s.ESP}
	}
	return []*ike.ChildSA{s.ESP, s.AH}
}

// Traffic is the SA pair traffic is bound to and whose inbound SPI names
// the IPsec SA (SoftExpire, DeleteChildSA, Usage): ESP, whose packets
// the bundled AH wraps, or AH alone.
func (s *IPsecSA) Traffic() *ike.ChildSA {
	if s.ESP != nil {
		return s.ESP
	}
	return s.AH
}

// Outer is the AH pair wrapping Traffic in a bundle, nil when there is no
// bundle.
func (s *IPsecSA) Outer() *ike.ChildSA {
	if s.ESP == nil {
		return nil
	}
	return s.AH
}

func (s *IPsecSA) String() string {
	if o := s.Outer(); o != nil {
		return s.ESP.String() + " + " + o.String()
	}
	return s.Traffic().String()
}

// Installer receives what the engine negotiates; the slow path implements
// it and programs the fast path. It is ike.Installer with IPsec SAs as
// IPsecSA units, so an AH+ESP bundle is installed, switched to and removed
// as one: both pairs or neither. Its methods run on the engine's goroutine
// and follow ike.Installer's make-before-break order:
//
//	new IPsec SA:      InstallInbound(sa); InstallOutbound(sa, nil)
//	rekey:             InstallInbound(new); InstallOutbound(new, old) ...;
//	                   RemoveIPsecSA(old, ike.ReasonRekeyed)
//
// InstallInbound must install every pair of sa or none (returning the
// error); an IPsec SA whose InstallInbound failed is never used.
type Installer interface {
	InstallInbound(sa *IPsecSA) error
	InstallOutbound(sa, replaces *IPsecSA) error
	RemoveIPsecSA(sa *IPsecSA, reason ike.Reason)
	IKESAUp(sa *ike.IKESAInfo)
	IKESADown(sa *ike.IKESAInfo, reason ike.Reason)
	// AcquireFailed reports that negotiating the IPsec SA for an Acquire
	// failed, so the slow path can try the entry's next peer.
	AcquireFailed(a ike.Acquire, err error)
}
