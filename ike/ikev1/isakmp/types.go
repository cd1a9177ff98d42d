// Package isakmp is the IKEv1 message codec (RFC 2408 ISAKMP with the
// RFC 2407 IPsec DOI, RFC 2409 IKE, RFC 3947 NAT traversal, RFC 3706 DPD).
//
// It receives UDP payloads (without the non-ESP marker) from the ikev1
// engine and returns a Message: the header and, when the message is in the
// clear, its payloads. An encrypted message (FlagEncryption) keeps its body
// sealed: the engine decrypts it with the ISAKMP SA's keys and IV and calls
// DecodePayloads on the plaintext, whose trailing padding is ignored.
// Encode goes the other way and leaves encryption to the engine too, so
// this package holds no keys.
//
// Every length is checked against its container; malformed input returns
// an *Error with a Reason the engine counts, never a panic.
package isakmp

import "fmt"

// Version is the ISAKMP version byte of IKEv1: major 1, minor 0.
const Version = 0x10

// HeaderLen is the fixed ISAKMP header length.
const HeaderLen = 28

// Exchange is the ISAKMP exchange type.
type Exchange uint8

// Exchange types (RFC 2408 §3.1, RFC 2409 §9.1).
const (
	ExchangeBase          Exchange = 1
	ExchangeMain          Exchange = 2 // identity protection
	ExchangeAuthOnly      Exchange = 3
	ExchangeAggressive    Exchange = 4
	ExchangeInformational Exchange = 5
	ExchangeQuick         Exchange = 32
	ExchangeNewGroup      Exchange = 33
)

func (x Exchange) String() string {
	switch x {
	case ExchangeMain:
		return "MAIN_MODE"
	case ExchangeAggressive:
		return "AGGRESSIVE"
	case ExchangeInformational:
		return "INFORMATIONAL"
	case ExchangeQuick:
		return "QUICK_MODE"
	}
	return fmt.Sprintf("EXCHANGE_%d", uint8(x))
}

// Flags of the ISAKMP header.
type Flags uint8

// Header flags.
const (
	FlagEncryption Flags = 1
	FlagCommit     Flags = 2
	FlagAuthOnly   Flags = 4
)

// PayloadType is an ISAKMP payload type.
type PayloadType uint8

// Payload types (RFC 2408 §3.1, RFC 3947 §3).
const (
	PayloadNone         PayloadType = 0
	PayloadSA           PayloadType = 1
	PayloadProposal     PayloadType = 2
	PayloadTransform    PayloadType = 3
	PayloadKE           PayloadType = 4
	PayloadID           PayloadType = 5
	PayloadCert         PayloadType = 6
	PayloadCertRequest  PayloadType = 7
	PayloadHash         PayloadType = 8
	PayloadSignature    PayloadType = 9
	PayloadNonce        PayloadType = 10
	PayloadNotification PayloadType = 11
	PayloadDelete       PayloadType = 12
	PayloadVendorID     PayloadType = 13
	PayloadNATD         PayloadType = 20
	PayloadNATOA        PayloadType = 21
)

func (t PayloadType) String() string {
	switch t {
	case PayloadNone:
		return "NONE"
	case PayloadSA:
		return "SA"
	case PayloadProposal:
		return "P"
	case PayloadTransform:
		return "T"
	case PayloadKE:
		return "KE"
	case PayloadID:
		return "ID"
	case PayloadCert:
		return "CERT"
	case PayloadCertRequest:
		return "CR"
	case PayloadHash:
		return "HASH"
	case PayloadSignature:
		return "SIG"
	case PayloadNonce:
		return "NONCE"
	case PayloadNotification:
		return "N"
	case PayloadDelete:
		return "D"
	case PayloadVendorID:
		return "VID"
	case PayloadNATD:
		return "NAT-D"
	case PayloadNATOA:
		return "NAT-OA"
	}
	return fmt.Sprintf("PAYLOAD_%d", uint8(t))
}

// Protocol is a protocol ID of the IPsec DOI (RFC 2407 §4.4.1).
type Protocol uint8

// Protocol IDs.
const (
	ProtoISAKMP Protocol = 1
	ProtoAH     Protocol = 2
	ProtoESP    Protocol = 3
	ProtoIPComp Protocol = 4
)

func (p Protocol) String() string {
	switch p {
	case ProtoISAKMP:
		return "ISAKMP"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	case ProtoIPComp:
		return "IPCOMP"
	}
	return fmt.Sprintf("PROTO_%d", uint8(p))
}

// DOIIPsec is the IPsec domain of interpretation; SituationIdentityOnly
// its only situation in use.
const (
	DOIIPsec              = 1
	SituationIdentityOnly = 1
)

// TransformKeyIKE is the phase-1 transform ID (RFC 2407 §4.4.2).
const TransformKeyIKE = 1

// Phase-1 attribute types (RFC 2409 Appendix A).
const (
	AttrEncryption    uint16 = 1
	AttrHash          uint16 = 2
	AttrAuthMethod    uint16 = 3
	AttrGroup         uint16 = 4
	AttrLifeType      uint16 = 11
	AttrLifeDuration  uint16 = 12
	AttrKeyLength     uint16 = 14
	LifeTypeSeconds   uint16 = 1
	LifeTypeKilobytes uint16 = 2
	AuthPreShared     uint16 = 1
)

// Phase-1 encryption algorithm values.
const (
	EncrDES    uint16 = 1
	Encr3DES   uint16 = 5
	EncrAESCBC uint16 = 7
	HashMD5    uint16 = 1
	HashSHA1   uint16 = 2
	HashSHA256 uint16 = 4
	HashSHA384 uint16 = 5
	HashSHA512 uint16 = 6
)

// IPsec DOI SA attribute types (RFC 2407 §4.5, RFC 4304).
const (
	AttrSALifeType     uint16 = 1
	AttrSALifeDuration uint16 = 2
	AttrSAGroup        uint16 = 3
	AttrEncapMode      uint16 = 4
	AttrAuthAlg        uint16 = 5
	AttrSAKeyLength    uint16 = 6
	AttrESN            uint16 = 11
)

// Encapsulation modes (RFC 2407 §4.5, RFC 3947 §5; draft values as sent
// by older peers).
const (
	EncapTunnel            uint16 = 1
	EncapTransport         uint16 = 2
	EncapUDPTunnel         uint16 = 3
	EncapUDPTransport      uint16 = 4
	EncapUDPTunnelDraft    uint16 = 61443
	EncapUDPTransportDraft uint16 = 61444
)

// ESP transform IDs (RFC 2407 §4.4.4) and AH transform IDs (§4.4.3).
const (
	ESPDES      uint8 = 2
	ESP3DES     uint8 = 3
	ESPNull     uint8 = 11
	ESPAESCBC   uint8 = 12
	ESPAESGCM16 uint8 = 20
	AHMD5       uint8 = 2
	AHSHA       uint8 = 3
	AHSHA256    uint8 = 5
	AHSHA384    uint8 = 6
	AHSHA512    uint8 = 7
)

// Authentication algorithm attribute values (RFC 2407 §4.5, RFC 4868).
const (
	AuthHMACMD5    uint16 = 1
	AuthHMACSHA1   uint16 = 2
	AuthHMACSHA256 uint16 = 5
	AuthHMACSHA384 uint16 = 6
	AuthHMACSHA512 uint16 = 7
)

// IDType is an identification type of the IPsec DOI (RFC 2407 §4.6.2.1).
type IDType uint8

// ID types.
const (
	IDIPv4Addr       IDType = 1
	IDFQDN           IDType = 2
	IDUserFQDN       IDType = 3
	IDIPv4AddrSubnet IDType = 4
	IDIPv6Addr       IDType = 5
	IDIPv6AddrSubnet IDType = 6
	IDIPv4AddrRange  IDType = 7
	IDIPv6AddrRange  IDType = 8
	IDKeyID          IDType = 11
)

func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "IPV4_ADDR"
	case IDFQDN:
		return "FQDN"
	case IDUserFQDN:
		return "USER_FQDN"
	case IDIPv4AddrSubnet:
		return "IPV4_ADDR_SUBNET"
	case IDIPv6Addr:
		return "IPV6_ADDR"
	case IDIPv6AddrSubnet:
		return "IPV6_ADDR_SUBNET"
	case IDIPv4AddrRange:
		return "IPV4_ADDR_RANGE"
	case IDIPv6AddrRange:
		return "IPV6_ADDR_RANGE"
	case IDKeyID:
		return "KEY_ID"
	}
	return fmt.Sprintf("ID_%d", uint8(t))
}

// NotifyType is a notify message type.
type NotifyType uint16

// Notify types (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
const (
	InvalidPayloadType    NotifyType = 1
	DOINotSupported       NotifyType = 2
	InvalidCookie         NotifyType = 4
	InvalidExchangeType   NotifyType = 7
	InvalidFlags          NotifyType = 8
	InvalidMessageID      NotifyType = 9
	InvalidSPI            NotifyType = 11
	NoProposalChosen      NotifyType = 14
	PayloadMalformed      NotifyType = 16
	InvalidKeyInformation NotifyType = 17
	InvalidIDInformation  NotifyType = 18
	AuthenticationFailed  NotifyType = 24
	InvalidHashInfo       NotifyType = 23
	ResponderLifetime     NotifyType = 24576
	ReplayStatus          NotifyType = 24577
	InitialContact        NotifyType = 24578
	RUThere               NotifyType = 36136
	RUThereAck            NotifyType = 36137
)

func (t NotifyType) String() string {
	switch t {
	case InvalidPayloadType:
		return "INVALID_PAYLOAD_TYPE"
	case InvalidCookie:
		return "INVALID_COOKIE"
	case InvalidExchangeType:
		return "INVALID_EXCHANGE_TYPE"
	case InvalidFlags:
		return "INVALID_FLAGS"
	case InvalidMessageID:
		return "INVALID_MESSAGE_ID"
	case InvalidSPI:
		return "INVALID_SPI"
	case NoProposalChosen:
		return "NO_PROPOSAL_CHOSEN"
	case PayloadMalformed:
		return "PAYLOAD_MALFORMED"
	case InvalidKeyInformation:
		return "INVALID_KEY_INFORMATION"
	case InvalidIDInformation:
		return "INVALID_ID_INFORMATION"
	case InvalidHashInfo:
		return "INVALID_HASH_INFORMATION"
	case AuthenticationFailed:
		return "AUTHENTICATION_FAILED"
	case ResponderLifetime:
		return "RESPONDER_LIFETIME"
	case ReplayStatus:
		return "REPLAY_STATUS"
	case InitialContact:
		return "INITIAL_CONTACT"
	case RUThere:
		return "R_U_THERE"
	case RUThereAck:
		return "R_U_THERE_ACK"
	}
	return fmt.Sprintf("NOTIFY_%d", uint16(t))
}

// Error reports whether the type is an error (RFC 2408: below 8192).
func (t NotifyType) Error() bool { return t < 8192 }
