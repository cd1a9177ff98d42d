package ike

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
)

// cookieLifetime is how long a cookie secret is used; cookies made with the
// one before it stay valid, so a cookie is good for one to two lifetimes.
const cookieLifetime = 2 * time.Minute

// cookieJar makes and checks stateless cookies (RFC 7296 §2.6):
// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), here as
// a truncated HMAC keyed with the secret.
type cookieJar struct {
	version     byte
	secret, old [32]byte
	at          time.Time
}

func (j *cookieJar) rotate(now time.Time) {
	j.old = j.secret
	copy(j.secret[:], randomBytes(32))
	j.version++
	j.at = now
}

func cookieMAC(secret []byte, version byte, ni []byte, remote netip.AddrPort, spi uint64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(ni)
	a := remote.Addr().As16()
	m.Write(a[:])
	m.Write(binary.BigEndian.AppendUint16(nil, remote.Port()))
	m.Write(binary.BigEndian.AppendUint64(nil, spi))
	return append([]byte{version}, m.Sum(nil)[:16]...)
}

func (j *cookieJar) make(ni []byte, remote netip.AddrPort, spi uint64) []byte {
	return cookieMAC(j.secret[:], j.version, ni, remote, spi)
}

func (j *cookieJar) valid(c, ni []byte, remote netip.AddrPort, spi uint64) bool {
	if len(c) != 17 {
		return false
	}
	switch c[0] {
	case j.version:
		return hmac.Equal(c, cookieMAC(j.secret[:], j.version, ni, remote, spi))
	case j.version - 1:
		return hmac.Equal(c, cookieMAC(j.old[:], j.version-1, ni, remote, spi))
	}
	return false
}
