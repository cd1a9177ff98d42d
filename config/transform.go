package config

import (
	"fmt"
	"strconv"
	"strings"

	"ipsecgw/crypto"
)

// This file knows the transform names of `crypto ipsec transform-set` and
// the rules of Table 2 of the guide for combining them.

type transformKind uint8

const (
	ahTransform transformKind = iota
	espCipher
	espAuth
)

type transformDef struct {
	kind   transformKind
	cipher crypto.Cipher
	integ  crypto.Integ
}

var transformDefs = map[string]transformDef{
	"ah-md5-hmac":           {ahTransform, 0, crypto.IntegHMACMD5_96},
	"ah-sha-hmac":           {ahTransform, 0, crypto.IntegHMACSHA1_96},
	"ah-sha256-hmac":        {ahTransform, 0, crypto.IntegHMACSHA256_128},
	"ah-sha384-hmac":        {ahTransform, 0, crypto.IntegHMACSHA384_192},
	"ah-sha512-hmac":        {ahTransform, 0, crypto.IntegHMACSHA512_256},
	"esp-aes":               {espCipher, crypto.CipherAESCBC, 0},
	"esp-des":               {espCipher, crypto.CipherDES, 0},
	"esp-3des":              {espCipher, crypto.Cipher3DES, 0},
	"esp-null":              {espCipher, crypto.CipherNull, 0},
	"esp-gcm":               {espCipher, crypto.CipherAESGCM16, 0},
	"esp-gmac":              {espCipher, crypto.CipherAESGMAC, 0},
	"esp-chacha20-poly1305": {espCipher, crypto.CipherChaCha20Poly1305, 0},
	"esp-md5-hmac":          {espAuth, 0, crypto.IntegHMACMD5_96},
	"esp-sha-hmac":          {espAuth, 0, crypto.IntegHMACSHA1_96},
	"esp-sha256-hmac":       {espAuth, 0, crypto.IntegHMACSHA256_128},
	"esp-sha384-hmac":       {espAuth, 0, crypto.IntegHMACSHA384_192},
	"esp-sha512-hmac":       {espAuth, 0, crypto.IntegHMACSHA512_256},
}

// parseTransforms builds a transform set from the transform words of
// `crypto ipsec transform-set NAME T1 [T2 [T3]]`: a transform name, each
// AES one optionally followed by its key size. It enforces the guide's
// rules: at most one AH transform, one ESP cipher and one ESP authenticator;
// no authenticator with a combined-mode cipher; esp-null only with an
// authenticator or AH. An ESP authenticator alone means ESP without
// encryption, as on IOS. warns lists deprecated algorithms (RFC 8221).
func parseTransforms(words []string) (ts TransformSet, warns []string, err error) {
	if len(words) == 0 {
		return ts, nil, fmt.Errorf("no transforms given")
	}
	var have [3]string
	for i := 0; i < len(words); i++ {
		name := strings.ToLower(words[i])
		def, ok := transformDefs[name]
		if !ok {
			return ts, nil, fmt.Errorf("unknown transform %q", words[i])
		}
		if prev := have[def.kind]; prev != "" {
			return ts, nil, fmt.Errorf("%s and %s: a transform set takes at most one %s", prev, name, kindText(def.kind))
		}
		have[def.kind] = name
		switch def.kind {
		case ahTransform:
			ts.AH = def.integ
		case espAuth:
			ts.ESP.Integ = def.integ
		case espCipher:
			ts.ESP.Cipher = def.cipher
			if allowed := def.cipher.KeyBitsAllowed(); allowed != nil {
				ts.ESP.KeyBits = 128
				if i+1 < len(words) {
					if n, err := strconv.Atoi(words[i+1]); err == nil {
						if !intIn(n, allowed) {
							return ts, nil, fmt.Errorf("%s %d: key size must be one of %s", name, n, intsText(allowed))
						}
						ts.ESP.KeyBits = n
						i++
					}
				}
			}
		}
		if deprecatedTransform(def) {
			warns = append(warns, fmt.Sprintf("%s is deprecated (RFC 8221); it still works", name))
		}
	}
	switch {
	case ts.ESP.Cipher.AEAD() && ts.ESP.Integ != crypto.IntegNone:
		return ts, nil, fmt.Errorf("%s is a combined-mode cipher and takes no ESP authenticator (%s)", have[espCipher], have[espAuth])
	case ts.ESP.Cipher == crypto.CipherNull && ts.ESP.Integ == crypto.IntegNone && ts.AH == crypto.IntegNone:
		return ts, nil, fmt.Errorf("esp-null needs an ESP authenticator or an AH transform: it would send traffic unprotected")
	case ts.ESP.Cipher == crypto.CipherNone && ts.ESP.Integ != crypto.IntegNone:
		ts.ESP.Cipher = crypto.CipherNull
	}
	return ts, warns, nil
}

func deprecatedTransform(d transformDef) bool {
	return (d.cipher != 0 && d.cipher.Deprecated()) || (d.integ != 0 && d.integ.Deprecated())
}

func kindText(k transformKind) string {
	switch k {
	case ahTransform:
		return "AH transform"
	case espCipher:
		return "ESP encryption transform"
	}
	return "ESP authentication transform"
}

// transformWords renders a set's transforms canonically: AH first, then the
// ESP cipher with its key size, then the ESP authenticator.
func transformWords(ts *TransformSet) []string {
	var out []string
	if ts.HasAH() {
		out = append(out, transformName(ahTransform, 0, ts.AH))
	}
	if ts.HasESP() {
		out = append(out, transformName(espCipher, ts.ESP.Cipher, 0))
		if ts.ESP.KeyBits != 0 {
			out = append(out, strconv.Itoa(ts.ESP.KeyBits))
		}
		if ts.ESP.Integ != crypto.IntegNone {
			out = append(out, transformName(espAuth, 0, ts.ESP.Integ))
		}
	}
	return out
}

func transformName(k transformKind, c crypto.Cipher, i crypto.Integ) string {
	for name, d := range transformDefs {
		if d.kind == k && d.cipher == c && d.integ == i {
			return name
		}
	}
	return "?"
}

// TransformText renders the set's transforms as configured, e.g.
// "esp-aes 256 esp-sha256-hmac".
func (t *TransformSet) TransformText() string { return strings.Join(transformWords(t), " ") }

func intIn(n int, list []int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

func intsText(list []int) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}
