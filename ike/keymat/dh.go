package keymat

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Group is a Diffie-Hellman group, numbered as IANA's IKEv2 Transform Type 4
// registry numbers it.
type Group uint16

// Supported groups.
const (
	GroupNone  Group = 0
	MODP768    Group = 1
	MODP1024   Group = 2
	MODP1536   Group = 5
	MODP2048   Group = 14
	MODP3072   Group = 15
	MODP4096   Group = 16
	ECP256     Group = 19
	ECP384     Group = 20
	ECP521     Group = 21
	Curve25519 Group = 31
)

// Supported reports whether this package implements the group.
func (g Group) Supported() bool {
	switch g {
	case MODP768, MODP1024, MODP1536, MODP2048, MODP3072, MODP4096, ECP256, ECP384, ECP521, Curve25519:
		return true
	}
	return false
}

// Legacy reports groups RFC 8247 says MUST NOT (1, 2) or SHOULD NOT (5) be
// used; they work, and the engine warns once when one is negotiated.
func (g Group) Legacy() bool { return g == MODP768 || g == MODP1024 || g == MODP1536 }

func (g Group) String() string {
	switch g {
	case GroupNone:
		return "none"
	case MODP768:
		return "modp768"
	case MODP1024:
		return "modp1024"
	case MODP1536:
		return "modp1536"
	case MODP2048:
		return "modp2048"
	case MODP3072:
		return "modp3072"
	case MODP4096:
		return "modp4096"
	case ECP256:
		return "ecp256"
	case ECP384:
		return "ecp384"
	case ECP521:
		return "ecp521"
	case Curve25519:
		return "curve25519"
	}
	return fmt.Sprintf("group-%d", uint16(g))
}

type modp struct {
	p       *big.Int
	size    int // prime length in bytes: public values and secrets are padded to it
	expBits int // private exponent length, twice the group's strength or more
}

var modpGroups = map[Group]*modp{
	MODP768:  newMODP(modp768, 256),
	MODP1024: newMODP(modp1024, 256),
	MODP1536: newMODP(modp1536, 256),
	MODP2048: newMODP(modp2048, 320),
	MODP3072: newMODP(modp3072, 384),
	MODP4096: newMODP(modp4096, 512),
}

func newMODP(hex string, expBits int) *modp {
	p, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		panic("keymat: bad MODP prime")
	}
	return &modp{p: p, size: (p.BitLen() + 7) / 8, expBits: expBits}
}

func (g Group) curve() ecdh.Curve {
	switch g {
	case ECP256:
		return ecdh.P256()
	case ECP384:
		return ecdh.P384()
	case ECP521:
		return ecdh.P521()
	case Curve25519:
		return ecdh.X25519()
	}
	return nil
}

// KeyExchange is one side of a Diffie-Hellman exchange: a private value and
// the public value that goes into the KE payload.
type KeyExchange struct {
	group  Group
	public []byte
	x      *big.Int // MODP private exponent
	priv   *ecdh.PrivateKey
}

// NewKeyExchange generates a key pair in group g from rng (nil:
// crypto/rand).
func NewKeyExchange(g Group, rng io.Reader) (*KeyExchange, error) {
	if rng == nil {
		rng = rand.Reader
	}
	k := &KeyExchange{group: g}
	if m := modpGroups[g]; m != nil {
		buf := make([]byte, m.expBits/8)
		if _, err := io.ReadFull(rng, buf); err != nil {
			return nil, err
		}
		k.x = new(big.Int).SetBytes(buf)
		k.x.SetBit(k.x, m.expBits-1, 1) // full length, never tiny
		y := new(big.Int).Exp(big.NewInt(2), k.x, m.p)
		k.public = y.FillBytes(make([]byte, m.size))
		return k, nil
	}
	c := g.curve()
	if c == nil {
		return nil, fmt.Errorf("keymat: DH group %v not supported", g)
	}
	priv, err := c.GenerateKey(rng)
	if err != nil {
		return nil, err
	}
	k.priv = priv
	k.public = priv.PublicKey().Bytes()
	if g != Curve25519 {
		k.public = k.public[1:] // RFC 5903 §7: x | y without the 0x04 prefix
	}
	return k, nil
}

// Group is the key exchange's group.
func (k *KeyExchange) Group() Group { return k.group }

// Public is the value for the KE payload.
func (k *KeyExchange) Public() []byte { return k.public }

// ErrBadPublic is returned for a peer public value that is malformed or
// outside the group.
var ErrBadPublic = errors.New("keymat: invalid DH public value")

// Shared computes g^ir from the peer's public value, checking it first:
// MODP values must be 1 < y < p-1 and of the prime's length, ECP points
// must be on the curve (RFC 5903 §7; the secret is the x coordinate).
func (k *KeyExchange) Shared(peer []byte) ([]byte, error) {
	if m := modpGroups[k.group]; m != nil {
		if len(peer) != m.size {
			return nil, ErrBadPublic
		}
		y := new(big.Int).SetBytes(peer)
		pm1 := new(big.Int).Sub(m.p, big.NewInt(1))
		if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
			return nil, ErrBadPublic
		}
		return new(big.Int).Exp(y, k.x, m.p).FillBytes(make([]byte, m.size)), nil
	}
	raw := peer
	if k.group != Curve25519 {
		raw = append([]byte{4}, peer...)
	}
	pub, err := k.group.curve().NewPublicKey(raw)
	if err != nil {
		return nil, ErrBadPublic
	}
	s, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, ErrBadPublic
	}
	return s, nil
}

// PublicLen is the length of a KE payload's data in group g.
func (g Group) PublicLen() int {
	if m := modpGroups[g]; m != nil {
		return m.size
	}
	switch g {
	case ECP256:
		return 64
	case ECP384:
		return 96
	case ECP521:
		return 132
	case Curve25519:
		return 32
	}
	return 0
}
