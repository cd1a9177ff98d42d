package message

import "fmt"

// ExchangeType is the IKE header's exchange type (RFC 7296 §3.1).
type ExchangeType uint8

// IKEv2 exchanges.
const (
	IKE_SA_INIT     ExchangeType = 34
	IKE_AUTH        ExchangeType = 35
	CREATE_CHILD_SA ExchangeType = 36
	INFORMATIONAL   ExchangeType = 37
)

func (x ExchangeType) String() string {
	switch x {
	case IKE_SA_INIT:
		return "IKE_SA_INIT"
	case IKE_AUTH:
		return "IKE_AUTH"
	case CREATE_CHILD_SA:
		return "CREATE_CHILD_SA"
	case INFORMATIONAL:
		return "INFORMATIONAL"
	}
	return fmt.Sprintf("EXCHANGE_%d", uint8(x))
}

// Flags are the IKE header flags.
type Flags uint8

// Header flags.
const (
	FlagResponse  Flags = 0x20 // R: this is a response
	FlagVersion   Flags = 0x10 // V: sender speaks a higher major version
	FlagInitiator Flags = 0x08 // I: sender is the IKE SA's original initiator
)

// PayloadType is a payload's type, as the Next Payload fields chain them.
type PayloadType uint8

// Payload types (RFC 7296 §3.2, RFC 7383).
const (
	NoNextPayload  PayloadType = 0
	PayloadSA      PayloadType = 33
	PayloadKE      PayloadType = 34
	PayloadIDi     PayloadType = 35
	PayloadIDr     PayloadType = 36
	PayloadCERT    PayloadType = 37
	PayloadCERTREQ PayloadType = 38
	PayloadAUTH    PayloadType = 39
	PayloadNonce   PayloadType = 40
	PayloadNotify  PayloadType = 41
	PayloadDelete  PayloadType = 42
	PayloadVendor  PayloadType = 43
	PayloadTSi     PayloadType = 44
	PayloadTSr     PayloadType = 45
	PayloadSK      PayloadType = 46
	PayloadCP      PayloadType = 47
	PayloadEAP     PayloadType = 48
	PayloadSKF     PayloadType = 53
)

func (t PayloadType) String() string {
	switch t {
	case NoNextPayload:
		return "NONE"
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "No"
	case PayloadNotify:
		return "N"
	case PayloadDelete:
		return "D"
	case PayloadVendor:
		return "V"
	case PayloadTSi:
		return "TSi"
	case PayloadTSr:
		return "TSr"
	case PayloadSK:
		return "SK"
	case PayloadCP:
		return "CP"
	case PayloadEAP:
		return "EAP"
	case PayloadSKF:
		return "SKF"
	}
	return fmt.Sprintf("PAYLOAD_%d", uint8(t))
}

// ProtocolID names the protocol a proposal, notify or delete is about.
type ProtocolID uint8

// Protocols.
const (
	ProtoNone ProtocolID = 0
	ProtoIKE  ProtocolID = 1
	ProtoAH   ProtocolID = 2
	ProtoESP  ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case ProtoNone:
		return "none"
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return fmt.Sprintf("PROTO_%d", uint8(p))
}

// TransformType is the kind of algorithm a transform selects.
type TransformType uint8

// Transform types.
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4
	TransformESN   TransformType = 5
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("TRANSFORM_%d", uint8(t))
}

// Transform IDs this implementation negotiates. ENCR and INTEG share their
// numbers with crypto.Cipher and crypto.Integ.
const (
	ENCR_AES_CBC    uint16 = 12
	ENCR_AES_GCM_16 uint16 = 20

	PRF_HMAC_SHA1     uint16 = 2
	PRF_HMAC_SHA2_256 uint16 = 5
	PRF_HMAC_SHA2_384 uint16 = 6
	PRF_HMAC_SHA2_512 uint16 = 7

	AUTH_HMAC_SHA1_96      uint16 = 2
	AUTH_HMAC_SHA2_256_128 uint16 = 12
	AUTH_HMAC_SHA2_384_192 uint16 = 13
	AUTH_HMAC_SHA2_512_256 uint16 = 14

	ESN_NONE uint16 = 0
	ESN_ON   uint16 = 1
)

// AttrKeyLength is the Key Length transform attribute (TV format).
const AttrKeyLength uint16 = 14

// IDType is an identification payload's ID type.
type IDType uint8

// ID types.
const (
	IDIPv4Addr  IDType = 1
	IDFQDN      IDType = 2
	IDRFC822    IDType = 3
	IDIPv6Addr  IDType = 5
	IDDERASN1DN IDType = 9
	IDKeyID     IDType = 11
)

func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ipv4"
	case IDFQDN:
		return "fqdn"
	case IDRFC822:
		return "email"
	case IDIPv6Addr:
		return "ipv6"
	case IDDERASN1DN:
		return "dn"
	case IDKeyID:
		return "key-id"
	}
	return fmt.Sprintf("id-%d", uint8(t))
}

// AuthMethod is an AUTH payload's method.
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSA AuthMethod = 1
	AuthPSK AuthMethod = 2
	AuthDSS AuthMethod = 3
)

// TSType is a traffic selector's type.
type TSType uint8

// Traffic selector types.
const (
	TSIPv4Range TSType = 7
	TSIPv6Range TSType = 8
)

// NotifyType is a Notify payload's message type. Types below 16384 are
// errors, the rest status notifications.
type NotifyType uint16

// Notify types used by the exchanges implemented here.
const (
	UNSUPPORTED_CRITICAL_PAYLOAD  NotifyType = 1
	INVALID_IKE_SPI               NotifyType = 4
	INVALID_MAJOR_VERSION         NotifyType = 5
	INVALID_SYNTAX                NotifyType = 7
	INVALID_MESSAGE_ID            NotifyType = 9
	INVALID_SPI                   NotifyType = 11
	NO_PROPOSAL_CHOSEN            NotifyType = 14
	INVALID_KE_PAYLOAD            NotifyType = 17
	AUTHENTICATION_FAILED         NotifyType = 24
	SINGLE_PAIR_REQUIRED          NotifyType = 34
	NO_ADDITIONAL_SAS             NotifyType = 35
	INTERNAL_ADDRESS_FAILURE      NotifyType = 36
	FAILED_CP_REQUIRED            NotifyType = 37
	TS_UNACCEPTABLE               NotifyType = 38
	INVALID_SELECTORS             NotifyType = 39
	TEMPORARY_FAILURE             NotifyType = 43
	CHILD_SA_NOT_FOUND            NotifyType = 44
	INITIAL_CONTACT               NotifyType = 16384
	SET_WINDOW_SIZE               NotifyType = 16385
	ADDITIONAL_TS_POSSIBLE        NotifyType = 16386
	IPCOMP_SUPPORTED              NotifyType = 16387
	NAT_DETECTION_SOURCE_IP       NotifyType = 16388
	NAT_DETECTION_DESTINATION_IP  NotifyType = 16389
	COOKIE                        NotifyType = 16390
	USE_TRANSPORT_MODE            NotifyType = 16391
	HTTP_CERT_LOOKUP_SUPPORTED    NotifyType = 16392
	REKEY_SA                      NotifyType = 16393
	ESP_TFC_PADDING_NOT_SUPPORTED NotifyType = 16394
	NON_FIRST_FRAGMENTS_ALSO      NotifyType = 16395
	MOBIKE_SUPPORTED              NotifyType = 16396
	IKEV2_FRAGMENTATION_SUPPORTED NotifyType = 16430
	SIGNATURE_HASH_ALGORITHMS     NotifyType = 16431
)

// Error reports whether the notify type is an error type.
func (t NotifyType) Error() bool { return t < 16384 }

var notifyNames = map[NotifyType]string{
	UNSUPPORTED_CRITICAL_PAYLOAD:  "UNSUPPORTED_CRITICAL_PAYLOAD",
	INVALID_IKE_SPI:               "INVALID_IKE_SPI",
	INVALID_MAJOR_VERSION:         "INVALID_MAJOR_VERSION",
	INVALID_SYNTAX:                "INVALID_SYNTAX",
	INVALID_MESSAGE_ID:            "INVALID_MESSAGE_ID",
	INVALID_SPI:                   "INVALID_SPI",
	NO_PROPOSAL_CHOSEN:            "NO_PROPOSAL_CHOSEN",
	INVALID_KE_PAYLOAD:            "INVALID_KE_PAYLOAD",
	AUTHENTICATION_FAILED:         "AUTHENTICATION_FAILED",
	SINGLE_PAIR_REQUIRED:          "SINGLE_PAIR_REQUIRED",
	NO_ADDITIONAL_SAS:             "NO_ADDITIONAL_SAS",
	INTERNAL_ADDRESS_FAILURE:      "INTERNAL_ADDRESS_FAILURE",
	FAILED_CP_REQUIRED:            "FAILED_CP_REQUIRED",
	TS_UNACCEPTABLE:               "TS_UNACCEPTABLE",
	INVALID_SELECTORS:             "INVALID_SELECTORS",
	TEMPORARY_FAILURE:             "TEMPORARY_FAILURE",
	CHILD_SA_NOT_FOUND:            "CHILD_SA_NOT_FOUND",
	INITIAL_CONTACT:               "INITIAL_CONTACT",
	SET_WINDOW_SIZE:               "SET_WINDOW_SIZE",
	ADDITIONAL_TS_POSSIBLE:        "ADDITIONAL_TS_POSSIBLE",
	IPCOMP_SUPPORTED:              "IPCOMP_SUPPORTED",
	NAT_DETECTION_SOURCE_IP:       "NAT_DETECTION_SOURCE_IP",
	NAT_DETECTION_DESTINATION_IP:  "NAT_DETECTION_DESTINATION_IP",
	COOKIE:                        "COOKIE",
	USE_TRANSPORT_MODE:            "USE_TRANSPORT_MODE",
	HTTP_CERT_LOOKUP_SUPPORTED:    "HTTP_CERT_LOOKUP_SUPPORTED",
	REKEY_SA:                      "REKEY_SA",
	ESP_TFC_PADDING_NOT_SUPPORTED: "ESP_TFC_PADDING_NOT_SUPPORTED",
	NON_FIRST_FRAGMENTS_ALSO:      "NON_FIRST_FRAGMENTS_ALSO",
	MOBIKE_SUPPORTED:              "MOBIKE_SUPPORTED",
	IKEV2_FRAGMENTATION_SUPPORTED: "IKEV2_FRAGMENTATION_SUPPORTED",
	SIGNATURE_HASH_ALGORITHMS:     "SIGNATURE_HASH_ALGORITHMS",
}

func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("NOTIFY_%d", uint16(t))
}
