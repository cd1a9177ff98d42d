// Package natt frames IKE messages on the NAT traversal port (4500), which
// IKE shares with UDP-encapsulated ESP (RFC 3948): IKE messages travel
// behind a 4-byte non-ESP marker of zeros, a NAT keepalive is the single
// byte 0xFF, anything else is ESP for the data plane. Both IKE engines
// (IKEv2 in package ike, IKEv1 in ike/ikev1) frame and split with it.
package natt

import "encoding/binary"

// Frame returns msg as it is sent on the NAT-T port: behind the non-ESP
// marker, in a new slice.
func Frame(msg []byte) []byte {
	b := make([]byte, 4+len(msg))
	copy(b[4:], msg)
	return b
}

// Kind is what a datagram received on the NAT-T port carries.
type Kind int

const (
	IKE       Kind = iota // an IKE message (marker removed by Split)
	Keepalive             // a NAT keepalive, to be dropped
	ESP                   // UDP-encapsulated ESP: the data plane's
)

// Split says what datagram b received on the NAT-T port is and, for IKE,
// returns the message without its marker.
func Split(b []byte) ([]byte, Kind) {
	switch {
	case len(b) == 1 && b[0] == 0xff:
		return nil, Keepalive
	case len(b) < 4 || binary.BigEndian.Uint32(b) != 0:
		return nil, ESP
	}
	return b[4:], IKE
}
