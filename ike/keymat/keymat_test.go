package keymat

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"os"
	"regexp"
	"strings"
	"testing"

	"ipsecgw/crypto"
)

// charonLog reads the hex dumps of a charon log at level 4: every
// "LABEL => N bytes @ ..." followed by its hex lines, in order.
func charonLog(t *testing.T, path string) map[string][][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := regexp.MustCompile(`^\d+\[\w+\] (.+) => (\d+) bytes @`)
	line := regexp.MustCompile(`^\d+\[\w+\]\s+\d+: ((?:[0-9A-F]{2} ){1,16})`)
	out := map[string][][]byte{}
	var label string
	var cur []byte
	flush := func() {
		if label != "" {
			out[label] = append(out[label], cur)
		}
		label, cur = "", nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := head.FindStringSubmatch(sc.Text()); m != nil {
			flush()
			label = m[1]
			continue
		}
		if m := line.FindStringSubmatch(sc.Text()); m != nil && label != "" {
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(m[1]), " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			cur = append(cur, b...)
			continue
		}
		flush()
	}
	flush()
	return out
}

// TestAgainstStrongSwan recomputes an IKE SA's keys, both AUTH values and
// a CHILD_SA's KEYMAT from the inputs charon logged and compares them with
// what charon computed.
func TestAgainstStrongSwan(t *testing.T) {
	v := charonLog(t, "testdata/strongswan-5.9.8-ike4.log")
	one := func(label string, i int) []byte {
		t.Helper()
		if len(v[label]) <= i {
			t.Fatalf("log has no %q #%d", label, i)
		}
		return v[label][i]
	}
	shared := one("shared Diffie Hellman secret", 0)
	seed := one("seed", 0) // Ni | Nr, from the CHILD_SA derivation
	ni, nr := seed[:32], seed[32:]
	const spii, spir = 0x854a08eda9286b88, 0xc7d332be17be1c6e
	suite := IKESuite{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128, PRF: PRFHMACSHA256, DH: ECP256}

	skeyseed := SKEYSEED(suite.PRF, ni, nr, shared)
	if !bytes.Equal(skeyseed, one("SKEYSEED", 0)) {
		t.Fatalf("SKEYSEED %x, charon %x", skeyseed, one("SKEYSEED", 0))
	}
	k, err := DeriveIKE(suite, skeyseed, ni, nr, spii, spir, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
	}{{"Sk_d secret", k.SKd}, {"Sk_pi secret", k.SKpi}, {"Sk_pr secret", k.SKpr}} {
		if !bytes.Equal(c.got, one(c.name, 0)) {
			t.Errorf("%s: %x, charon %x", c.name, c.got, one(c.name, 0))
		}
	}
	// SK_e and SK_a are checked through the protectors: what ours seal,
	// protectors keyed with charon's keys open, and the other way round.
	theirsR, _ := NewProtector(suite.Cipher, suite.Integ, one("Sk_er secret", 0), one("Sk_ar secret", 0))
	theirsI, _ := NewProtector(suite.Cipher, suite.Integ, one("Sk_ei secret", 0), one("Sk_ai secret", 0))
	aad := []byte("header and SK payload header...")
	plain := bytes.Repeat([]byte{0x42}, 32)
	if got, err := theirsR.Open(aad, k.Out.Seal(nil, aad, plain)); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("responder keys differ from charon's: %v", err)
	}
	if got, err := k.In.Open(aad, theirsI.Seal(nil, aad, plain)); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("initiator keys differ from charon's: %v", err)
	}

	// AUTH: first the initiator's (charon verifying ours), then charon's.
	for i, c := range []struct {
		skp   []byte
		nonce []byte
	}{{k.SKpi, nr}, {k.SKpr, ni}} {
		octets := one("octets = message + nonce + prf(Sk_px, IDx')", i)
		msg := octets[:len(octets)-len(c.nonce)-suite.PRF.Size()]
		got := SignedOctets(suite.PRF, msg, c.nonce, c.skp, one("IDx'", i))
		if !bytes.Equal(got, octets) {
			t.Fatalf("signed octets #%d differ from charon's", i)
		}
		if auth := PSKAuth(suite.PRF, one("secret", i), got); !bytes.Equal(auth, one("AUTH = prf(prf(secret, keypad), octets)", i)) {
			t.Errorf("AUTH #%d: %x, charon %x", i, auth, one("AUTH = prf(prf(secret, keypad), octets)", i))
		}
	}

	ck, err := DeriveChild(suite.PRF, k.SKd, nil, ni, nr, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
	}{
		{"encryption initiator key", ck.EncrI}, {"encryption responder key", ck.EncrR},
		{"integrity initiator key", ck.IntegI}, {"integrity responder key", ck.IntegR},
	} {
		if !bytes.Equal(c.got, one(c.name, 0)) {
			t.Errorf("CHILD_SA %s: %x, charon %x", c.name, c.got, one(c.name, 0))
		}
	}
}

// prf+ is HKDF-Expand (RFC 5869 §2.3) with the seed as info.
func TestPRFPlusIsHKDFExpand(t *testing.T) {
	key := []byte("a key of some length, longer than nothing")
	seed := []byte("Ni | Nr | SPIi | SPIr")
	for _, a := range []PRFAlg{PRFHMACSHA1, PRFHMACSHA256, PRFHMACSHA384, PRFHMACSHA512} {
		for _, n := range []int{1, a.Size(), 3*a.Size() + 7, 200} {
			got, err := a.PlusN(key, seed, n)
			if err != nil {
				t.Fatal(err)
			}
			want, err := hkdf.Expand(a.hash(), key, string(seed), n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%v prf+ %d bytes differs from HKDF-Expand", a, n)
			}
		}
		if _, err := a.PlusN(key, seed, 256*a.Size()); err == nil {
			t.Errorf("%v: prf+ beyond 255 iterations accepted", a)
		}
	}
}

// The MODP primes are 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + k)
// (RFC 2409 §6, RFC 3526); recompute them from pi.
func TestMODPPrimesFromPi(t *testing.T) {
	pi := func(bits uint) *big.Int { // pi * 2^bits by Machin's formula
		one := new(big.Int).Lsh(big.NewInt(1), bits+64)
		atanInv := func(x int64) *big.Int {
			xb, x2 := big.NewInt(x), big.NewInt(x*x)
			term := new(big.Int).Quo(one, xb)
			sum := new(big.Int).Set(term)
			for n, sign := int64(3), -1; term.Sign() != 0; n, sign = n+2, -sign {
				term.Quo(term, x2)
				d := new(big.Int).Quo(term, big.NewInt(n))
				if sign < 0 {
					sum.Sub(sum, d)
				} else {
					sum.Add(sum, d)
				}
			}
			return sum
		}
		r := new(big.Int).Mul(atanInv(5), big.NewInt(16))
		r.Sub(r, new(big.Int).Mul(atanInv(239), big.NewInt(4)))
		return r.Rsh(r, 64)
	}
	for _, c := range []struct {
		g Group
		n uint
		k int64
	}{{MODP768, 768, 149686}, {MODP1024, 1024, 129093}, {MODP1536, 1536, 741804}, {MODP2048, 2048, 124476}, {MODP3072, 3072, 1690314}, {MODP4096, 4096, 240904}} {
		p := new(big.Int).Lsh(big.NewInt(1), c.n)
		p.Sub(p, new(big.Int).Lsh(big.NewInt(1), c.n-64))
		p.Sub(p, big.NewInt(1))
		f := new(big.Int).Rsh(pi(c.n), 130)
		f.Add(f, big.NewInt(c.k))
		p.Add(p, f.Lsh(f, 64))
		if p.Cmp(modpGroups[c.g].p) != 0 {
			t.Errorf("group %v: prime differs from the formula", c.g)
		}
	}
}

func TestDHAgreement(t *testing.T) {
	for _, g := range []Group{MODP768, MODP1024, MODP1536, MODP2048, MODP3072, MODP4096, ECP256, ECP384, ECP521, Curve25519} {
		a, err := NewKeyExchange(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewKeyExchange(g, nil)
		if len(a.Public()) != g.PublicLen() {
			t.Errorf("%v: public value of %d bytes, want %d", g, len(a.Public()), g.PublicLen())
		}
		s1, err1 := a.Shared(b.Public())
		s2, err2 := b.Shared(a.Public())
		if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
			t.Errorf("%v: secrets disagree (%v, %v)", g, err1, err2)
		}
		// Malformed or hostile public values.
		bad := [][]byte{nil, a.Public()[1:], append(append([]byte{}, a.Public()...), 0)}
		if m := modpGroups[g]; m != nil {
			pm1 := new(big.Int).Sub(m.p, big.NewInt(1))
			bad = append(bad, big.NewInt(1).FillBytes(make([]byte, m.size)), pm1.FillBytes(make([]byte, m.size)))
		} else if g == Curve25519 {
			bad = append(bad, make([]byte, 32)) // low order: all-zero secret
		} else {
			p := append([]byte{}, a.Public()...)
			p[len(p)-1] ^= 1 // off the curve
			bad = append(bad, p)
		}
		for i, p := range bad {
			if _, err := a.Shared(p); err == nil {
				t.Errorf("%v: bad public value #%d accepted", g, i)
			}
		}
	}
}

func TestProtectors(t *testing.T) {
	key := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	for _, c := range []struct {
		c     crypto.Cipher
		bits  int
		integ crypto.Integ
	}{
		{crypto.CipherAESCBC, 128, crypto.IntegHMACSHA1_96},
		{crypto.CipherAESCBC, 256, crypto.IntegHMACSHA256_128},
		{crypto.CipherAESCBC, 256, crypto.IntegHMACSHA384_192},
		{crypto.CipherAESCBC, 256, crypto.IntegHMACSHA512_256},
		{crypto.CipherAESGCM16, 128, crypto.IntegNone},
		{crypto.CipherAESGCM16, 256, crypto.IntegNone},
	} {
		var ik []byte
		if c.integ != crypto.IntegNone {
			ik = key(c.integ.KeyLen())
		}
		p, err := NewProtector(c.c, c.integ, key(c.c.KeyLen(c.bits)), ik)
		if err != nil {
			t.Fatal(err)
		}
		aad := []byte("IKE header and SK header")
		plain := bytes.Repeat([]byte{7}, 4*p.BlockLen())
		sealed := p.Seal(nil, aad, plain)
		if len(sealed) != len(plain)+p.Overhead() {
			t.Errorf("%v: sealed %d bytes, want %d", c.c, len(sealed), len(plain)+p.Overhead())
		}
		if got, err := p.Open(aad, sealed); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%v/%v round trip: %v", c.c, c.integ, err)
		}
		for _, i := range []int{0, len(sealed) / 2, len(sealed) - 1} {
			bad := append([]byte{}, sealed...)
			bad[i] ^= 0x80
			if _, err := p.Open(aad, bad); err == nil {
				t.Errorf("%v: tampered byte %d accepted", c.c, i)
			}
		}
		if _, err := p.Open([]byte("other header"), sealed); err == nil {
			t.Errorf("%v: other associated data accepted", c.c)
		}
		if _, err := p.Open(aad, sealed[:3]); err == nil {
			t.Errorf("%v: truncated input accepted", c.c)
		}
	}
}
