package ikev1

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"ipsecgw/ike/ikev1/isakmp"
)

type logValue struct {
	name string
	data []byte
}

// readCharonSession reads testdata/charon-session.txt: the key material
// and packets strongSwan logged in a real session with this engine.
func readCharonSession(t *testing.T) []logValue {
	t.Helper()
	f, err := os.Open("testdata/charon-session.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logValue
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, h, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, logValue{name, b})
	}
	return out
}

func first(vs []logValue, name string) []byte {
	for _, v := range vs {
		if v.name == name {
			return v.data
		}
	}
	return nil
}

// TestKeysAgainstCharon recomputes SKEYID, SKEYID_d/a/e, the expanded
// encryption key, the phase-1 IV and every quick mode KEYMAT of a session
// strongSwan logged, from that session's nonces, KE values, cookies and
// shared secret, and compares with what strongSwan derived.
func TestKeysAgainstCharon(t *testing.T) {
	vs := readCharonSession(t)
	psk := []byte("interop-v1-psk-5e2b71") // the interop test's PSK
	var mm3, mm4 *isakmp.Message
	for _, v := range vs {
		if v.name != "received_packet" && v.name != "generated_data_of_this_generator" {
			continue
		}
		b := v.data
		if len(b) > 4 && binary.BigEndian.Uint32(b) == 0 {
			b = b[4:] // non-ESP marker
		}
		if v.name == "generated_data_of_this_generator" && len(b) >= isakmp.HeaderLen {
			// strongSwan dumps a message before filling in its length.
			b = append([]byte(nil), b...)
			binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
		}
		m, err := isakmp.Parse(b)
		if err != nil || m.Exchange != isakmp.ExchangeMain || m.Encrypted() || m.Find(isakmp.PayloadKE) == nil {
			continue
		}
		if v.name == "received_packet" {
			mm3 = m
		} else {
			mm4 = m
		}
	}
	if mm3 == nil || mm4 == nil {
		t.Fatal("main mode messages 3 and 4 not in the log")
	}
	ni, nr := mm3.Find(isakmp.PayloadNonce).(*isakmp.Nonce).Data, mm4.Find(isakmp.PayloadNonce).(*isakmp.Nonce).Data
	gxi, gxr := mm3.Find(isakmp.PayloadKE).(*isakmp.KE).Data, mm4.Find(isakmp.PayloadKE).(*isakmp.KE).Data
	gxy := first(vs, "shared_Diffie_Hellman_secret")
	k := derivePhase1(HashSHA1, psk, ni, nr, gxy, mm4.ICookie, mm4.RCookie, 32)
	for _, c := range []struct {
		name string
		got  []byte
	}{
		{"SKEYID", k.skeyid}, {"SKEYID_d", k.d}, {"SKEYID_a", k.a}, {"SKEYID_e", k.e},
		{"encryption_key_Ka", k.encKey}, {"initial_IV", phase1IV(HashSHA1, gxi, gxr, 16)},
	} {
		if want := first(vs, c.name); !bytes.Equal(c.got, want) {
			t.Errorf("%s: got %x, strongSwan %x", c.name, c.got, want)
		}
	}
	// Quick mode KEYMAT (RFC 2409 §5.5): each seed is protocol | SPI |
	// Ni_b | Nr_b; encryption key first, then integrity.
	checked := 0
	for i, v := range vs {
		if !strings.HasSuffix(v.name, "_SA_seed") {
			continue
		}
		role := strings.TrimSuffix(v.name, "_SA_seed")
		seed := v.data
		proto, spi := isakmp.Protocol(seed[0]), binary.BigEndian.Uint32(seed[1:5])
		qni, qnr := seed[5:5+32], seed[5+32:]
		var encr, integ []byte
		for _, w := range vs[i+1:] {
			if w.name == "encryption_"+role+"_key" && encr == nil {
				encr = w.data
			}
			if w.name == "integrity_"+role+"_key" && integ == nil {
				integ = w.data
			}
		}
		km := deriveKeymat(HashSHA1, k.d, nil, proto, spi, qni, qnr, len(encr)+len(integ))
		if !bytes.Equal(km[:len(encr)], encr) || !bytes.Equal(km[len(encr):], integ) {
			t.Errorf("%s SA %08x: KEYMAT %x, strongSwan %x|%x", role, spi, km, encr, integ)
		}
		checked++
	}
	if checked < 4 {
		t.Errorf("checked %d quick mode keys, want the initial SA and its rekey, both directions", checked)
	}
}

// TestKeyExpansion checks RFC 2409 Appendix B's expansion of a short
// SKEYID_e (MD5: 16 bytes for a 24-byte 3DES key) and KEYMAT expansion.
func TestKeyExpansion(t *testing.T) {
	k := derivePhase1(HashMD5, []byte("psk"), []byte("ni-ni-ni"), []byte("nr-nr-nr"), []byte{1, 2, 3}, 1, 2, 24)
	k1 := HashMD5.prf(k.e, []byte{0})
	k2 := HashMD5.prf(k.e, k1)
	if !bytes.Equal(k.encKey, append(k1, k2...)[:24]) {
		t.Error("Ka is not K1 | K2 truncated")
	}
	seed := []byte{3, 0, 0, 1, 0, 'n', 'i', 'n', 'r'}
	km := deriveKeymat(HashSHA1, k.d, nil, isakmp.ProtoESP, 256, []byte("ni"), []byte("nr"), 64)
	a := HashSHA1.prf(k.d, seed)
	b := HashSHA1.prf(k.d, a, seed)
	if !bytes.Equal(km[:40], append(a, b...)) || len(km) != 64 {
		t.Error("KEYMAT is not K1 | K2 | K3 with Kn = prf(SKEYID_d, Kn-1 | seed)")
	}
}
